#!/bin/sh
# One-shot job of docker-compose.yml (admin-tools image): create Temporal's two PostgreSQL
# databases and bring their schemas to the version this admin-tools image ships, as
# Temporal's own compose examples do. Safe on every start: an existing database is kept and
# only upgraded (the database volume persists across `docker compose up`).
set -eu

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" \
        -p "${DB_PORT:-5432}" "$@"
}

for database in temporal temporal_visibility; do
    case "$database" in
        temporal) schema=/etc/temporal/schema/postgresql/v12/temporal/versioned ;;
        *) schema=/etc/temporal/schema/postgresql/v12/visibility/versioned ;;
    esac
    # Fails when the database exists already (any later start): the schema steps below
    # report a real problem, such as a wrong password.
    sql_tool --db "$database" create || echo "database $database exists"
    if sql_tool --db "$database" update-schema -d "$schema"; then
        echo "database $database: schema up to date"
    else
        # A new database has no schema version yet to update from.
        sql_tool --db "$database" setup-schema -v 0.0
        sql_tool --db "$database" update-schema -d "$schema"
    fi
done
echo "PostgreSQL schema ready"
