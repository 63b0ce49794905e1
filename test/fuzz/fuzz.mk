# test/fuzz/fuzz.mk: libFuzzer harnesses for the pure C modules.
#
# Include it from the top Makefile (paths are relative to the repo root)
# or use it on its own from the repo root:
#
#   make -f test/fuzz/fuzz.mk fuzz FUZZ_SECONDS=10
#
# Targets: `fuzz` builds every harness and runs each for FUZZ_SECONDS on a
# copy of its seed corpus in a temporary directory (test/fuzz/corpus is only
# read), prints "fuzz NAME: ok (N runs)" or "fuzz NAME: FAILED" per harness
# and fails if any failed; the crashing input and the log then go to
# $(FUZZ_ARTIFACTS).  `fuzz-clean` removes the binaries.
#
# Every name defined here starts with FUZZ (FUZZERS included) so that
# nothing PGXS uses is touched, and the default goal of the including
# Makefile is left alone.

FUZZ_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

# Debian's clang-14 package installs clang-14, not clang
FUZZ_CC        ?= $(shell command -v clang-14 || command -v clang || echo clang-14)
FUZZ_CFLAGS    ?= -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SECONDS   ?= 10
FUZZ_MAX_LEN   ?= 8192
FUZZ_RUN_FLAGS ?= -timeout=10 -rss_limit_mb=2048
FUZZ_ARTIFACTS ?= test/fuzz/artifacts

FUZZ_NAMES = iso8601 cursor notify json jwt wsmsg path hub chunked
FUZZERS    = $(patsubst %,test/fuzz/fuzz_%,$(FUZZ_NAMES))

# the src/*.c each harness links (and -l flags)
FUZZ_SRCS_iso8601 = src/core/iso8601.c
FUZZ_SRCS_cursor  = src/core/cursor.c src/core/b64url.c src/core/iso8601.c
FUZZ_SRCS_notify  = src/core/notify_payload.c
FUZZ_SRCS_json    = src/core/json.c
FUZZ_SRCS_jwt     = src/core/jwt.c src/core/json.c src/core/b64url.c
FUZZ_LIBS_jwt     = -lcrypto
FUZZ_SRCS_wsmsg   = src/core/wsproto.c src/core/json.c
FUZZ_SRCS_path    = src/core/wsproto.c src/core/json.c
FUZZ_SRCS_hub     = src/core/hub.c src/core/wsproto.c src/core/json.c
FUZZ_SRCS_chunked = src/core/chunked.c

FUZZ_HEADERS = $(wildcard src/core/*.h) test/fuzz/fuzz_util.h test/unit/path_routes.h

# one explicit dependency line per harness (no pattern rule that PGXS
# could pick up for anything else)
$(foreach n,$(FUZZ_NAMES),$(eval test/fuzz/fuzz_$(n): test/fuzz/fuzz_$(n).c $(FUZZ_SRCS_$(n)) $(FUZZ_HEADERS)))

$(FUZZERS): test/fuzz/fuzz_%: test/fuzz/fuzz_%.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc/core -o $@ $< $(FUZZ_SRCS_$*) $(FUZZ_LIBS_$*)

.PHONY: fuzz fuzz-clean

# Each fuzzer runs on a temporary copy of its corpus; on a crash, leak,
# timeout or OOM libFuzzer exits non-zero, and the input it wrote
# (crash-*, leak-*, timeout-*, oom-*) and the log are kept.
fuzz: $(FUZZERS)
	@failed=0; \
	for n in $(FUZZ_NAMES); do \
	  tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/mana-fuzz-$$n.XXXXXX") || exit 1; \
	  mkdir -p "$$tmp/corpus" "$$tmp/out"; \
	  if [ -d test/fuzz/corpus/$$n ]; then cp -R test/fuzz/corpus/$$n/. "$$tmp/corpus/"; fi; \
	  if UBSAN_OPTIONS="print_stacktrace=1:$${UBSAN_OPTIONS:-}" \
	     ./test/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
	       $(FUZZ_RUN_FLAGS) -artifact_prefix="$$tmp/out/" "$$tmp/corpus" \
	       > "$$tmp/log" 2>&1; then \
	    runs=$$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$$tmp/log" | tail -n 1); \
	    echo "fuzz $$n: ok ($${runs:-?} runs)"; \
	  else \
	    echo "fuzz $$n: FAILED"; \
	    failed=1; \
	    mkdir -p $(FUZZ_ARTIFACTS); \
	    cp "$$tmp/log" $(FUZZ_ARTIFACTS)/$$n.log; \
	    for f in "$$tmp"/out/*; do \
	      [ -f "$$f" ] && cp "$$f" $(FUZZ_ARTIFACTS)/$$n-$${f##*/}; \
	    done; \
	    grep -E '^(==[0-9]+== ?ERROR|SUMMARY|.*: runtime error)' "$$tmp/log" | head -n 5 | sed 's/^/    /'; \
	    echo "    log and input: $(FUZZ_ARTIFACTS)/$$n*"; \
	  fi; \
	  rm -rf "$$tmp"; \
	done; \
	exit $$failed

fuzz-clean:
	rm -f $(FUZZERS)

# give the including Makefile its default goal back
.DEFAULT_GOAL := $(FUZZ_SAVED_DEFAULT_GOAL)
