"""Scores the screening corpus with OpenSanctions' own matcher (nomenklatura's logic-v2, the
algorithm yente uses by default), for comparison with ours in ``bench/screening.py``.

nomenklatura pulls in PyICU, scikit-learn, DuckDB and its own mypy, so it runs in a separate
virtual environment and never enters the project's: ``bench/screening.py --reference-python
PATH`` calls this file with that interpreter. Reads the corpus paths from its arguments and
writes one JSON line per pair: the score of the listed entity (names and birth date, the
same facts our matcher sees).

    python -m venv /tmp/reference && /tmp/reference/bin/pip install nomenklatura
"""

from __future__ import annotations

import csv
import json
import sys


def main(list_path: str, pairs_path: str) -> None:
    from followthemoney import model
    from nomenklatura.matching import get_algorithm
    from nomenklatura.matching.types import ScoringConfig

    algorithm = get_algorithm("logic-v2")
    assert algorithm is not None
    config = ScoringConfig.defaults()
    listed = {}
    with open(list_path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            entity = model.make_entity(row["schema"])
            entity.id = row["id"]
            entity.add("name", row["name"])
            entity.add("alias", [a for a in row["aliases"].split(";") if a])
            if row["birth_date"] and row["schema"] == "Person":
                entity.add("birthDate", row["birth_date"])
            listed[row["id"]] = entity
    with open(pairs_path, encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.DictReader(f)):
            target = listed[row["listed_id"]]
            query = model.make_entity(target.schema.name)
            # A fresh id per query: nomenklatura caches what it derived from an entity by id.
            query.id = f"query-{n}"
            query.add("name", row["query"])
            if row["birth_date"] and target.schema.name == "Person":
                query.add("birthDate", row["birth_date"])
            result = algorithm.compare(query, target, config)
            print(json.dumps({"query": row["query"], "score": float(result.score)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
