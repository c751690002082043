#!/usr/bin/env bash
# Peak memory of a GDPR export against the size of what is exported: seeds one user with
# MESSAGES messages (in conversations of 100) in a fresh SQLite database, then runs
# `alice user export` to a file under /usr/bin/time and prints its peak RSS, wall time and the
# document's size. Run it twice with different sizes: a streamed export's peak stays flat.
#
#   bench/export-rss.sh 100000 [ALICE_BINARY]   # default target/release/alice (cargo build --release)
set -euo pipefail
messages=${1:-100000}
alice=${1:+${2:-target/release/alice}}
alice=${alice:-target/release/alice}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ALICE_DATABASE__URL="sqlite://$work/alice.db"
export ALICE_DATABASE__ERASURE_LOG="$work/erasures.ndjson"
"$alice" migrate >/dev/null
python3 - "$work/alice.db" "$messages" <<'PY'
import sqlite3, sys, uuid
path, messages = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
db.execute("INSERT INTO users (username, created_at) VALUES ('soak', '2026-01-01T00:00:00+00:00')")
user = db.execute("SELECT id FROM users WHERE username = 'soak'").fetchone()[0]
per = 100
text = "Kan du sammanfatta vad vi sa om semesterresan till Kiruna i februari? " * 3
for c in range((messages + per - 1) // per):
    conversation = str(uuid.uuid4())
    at = f"2026-01-01T{c // 3600 % 24:02}:{c // 60 % 60:02}:{c % 60:02}+00:00"
    count = min(per, messages - c * per)
    db.execute(
        "INSERT INTO conversations (id, user_id, title, started_at, last_message_at, message_count)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (conversation, user, f"Samtal {c}", at, at, count),
    )
    db.executemany(
        "INSERT INTO messages (id, conversation_id, seq, role, content, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (str(uuid.uuid4()), conversation, seq, "user" if seq % 2 else "assistant", text, at)
            for seq in range(1, count + 1)
        ],
    )
db.commit()
PY
/usr/bin/time -f "peak_rss_kib=%M wall_s=%e user_s=%U sys_s=%S" \
    "$alice" user export soak -o "$work/soak.json"
python3 - "$work/soak.json" <<'PY'
import json, os, sys
path = sys.argv[1]
document = json.load(open(path))
print(f"document_bytes={os.path.getsize(path)} messages={document['counts']['messages']} "
      f"conversations={document['counts']['conversations']}")
PY
