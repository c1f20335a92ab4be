#!/usr/bin/env bash
# Fuzzes the inbound pipeline and the event JSON for a fixed time each (default 300 s), with
# libFuzzer's memory limits on, and exits non-zero if either finds a crash, a panic, a leak or
# an input that takes more memory than the limit.
#
#   fuzz/run.sh            # 300 s per target
#   fuzz/run.sh 60         # 60 s per target
#   fuzz/run.sh 60 events  # one target
#
# Needs a nightly toolchain (for the sanitizer) and cargo-fuzz; installs both if missing.
# A crash leaves its input in fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/
# and `cargo test --test fuzz_regressions` replays it on stable from then on.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-300}"
targets=("${@:2}")
[ ${#targets[@]} -gt 0 ] || targets=(inbound events)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Working corpora start from the committed seeds, the regressions, and (for the pipeline)
# every message of the reply-trimming corpus wrapped as a reply.
mkdir -p corpus/inbound corpus/events
cp -n seeds/inbound/* regressions/inbound/* corpus/inbound/ 2>/dev/null || true
cp -n seeds/events/* regressions/events/* corpus/events/ 2>/dev/null || true
if [ -d ../../shared/corpus/reply-trimming/emails ]; then
    for f in ../../shared/corpus/reply-trimming/emails/*.txt; do
        out="corpus/inbound/trim-$(basename "$f" .txt).eml"
        [ -e "$out" ] || { printf 'From: ana@visitor.example\r\nTo: reply+abc@reply.example\r\nSubject: Re: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'; cat "$f"; } > "$out"
    done
fi

status=0
for target in "${targets[@]}"; do
    echo "== fuzzing $target for ${seconds}s"
    # 64 KiB inputs (beyond that the limits refuse before parsing); 1 GiB of RSS at most and no
    # single allocation above 256 MiB: an input that needs more is reported as a failure.
    if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 -malloc_limit_mb=256 \
        -timeout=10 -print_final_stats=1; then
        echo "== $target: FAILED (input in fuzz/artifacts/$target/)"
        status=1
    else
        echo "== $target: clean"
    fi
done
exit "$status"
