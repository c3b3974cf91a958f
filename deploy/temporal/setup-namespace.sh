#!/bin/sh
# One-shot job of docker-compose.yml (admin-tools image): once the Temporal server answers,
# create the namespace Sluice runs in and Sluice's search attributes
# (sluice/search_attributes.py). Safe to run again: what exists is left alone. Also usable
# against an existing cluster: TEMPORAL_ADDRESS=host:7233 sh deploy/temporal/setup-namespace.sh
set -eu

address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
# Closed runs (and their audit trail) stay readable this long.
retention="${SLUICE_NAMESPACE_RETENTION:-30d}"

# Run a command until it succeeds: the frontend answers before a new namespace is usable.
retry() {
    tries=0
    until "$@"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 30 ]; then
            echo "gave up after $tries tries: $*" >&2
            return 1
        fi
        sleep 2
    done
}

echo "waiting for Temporal at $address"
retry temporal operator cluster health --address "$address" >/dev/null

if temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; then
    echo "namespace $namespace exists"
else
    temporal operator namespace create --address "$address" --namespace "$namespace" \
        --retention "$retention"
fi

# One attribute per call: the CLI pairs each --name with one --type.
create_attribute() {
    if temporal operator search-attribute list --address "$address" --namespace "$namespace" \
        | grep -qw "$1"; then
        echo "search attribute $1 exists"
    else
        retry temporal operator search-attribute create --address "$address" \
            --namespace "$namespace" --name "$1" --type "$2"
    fi
}

create_attribute Domain Keyword
create_attribute ApprovalStatus Keyword
create_attribute RiskLevel Keyword
create_attribute DecisionNeeded Keyword
create_attribute DecisionRequestedAt Datetime
echo "namespace $namespace ready for Sluice"
