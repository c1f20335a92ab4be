#!/usr/bin/env bash
# Runs replyrelay's benchmarks and prints a table of figures with their same-run references.
# Usage: bench/run.sh [trimming|ingestion|outbound|several|inbound|scheduler|retention ...]   (default: all)
# PostgreSQL figures are included when REPLYRELAY_TEST_POSTGRES_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."

# Postfix provides smtp-sink and smtp-source, the references for the SMTP figures.
if ! command -v smtp-sink >/dev/null || ! command -v smtp-source >/dev/null; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
export PATH="$PATH:/usr/sbin"
cargo bench --bench replyrelay -- "$@"
