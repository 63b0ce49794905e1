# mana_sync: PGXS build.  `make`, `make install`, `make installcheck`,
# `make unit` (cmocka tests of the pure C under ASan+UBSan).

EXTENSION  = mana_sync
EXTVERSION = 0.1.0
MODULE_big = mana_sync

# The folders are the architecture (docs/architecture.md):
#   src/core     pure C (libc and OpenSSL): unit-tested and fuzzed
#   src/backend  what runs in a backend: SQL functions, trigger, commit hook,
#                shared memory
#   src/worker   the background worker: loop, listener, intake, pool,
#                WebSocket, HTTP
# src/mana_sync.c is the module's entry point (_PG_init).
CORE_OBJS    = $(patsubst %.c,%.o,$(sort $(wildcard src/core/*.c)))
BACKEND_OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/backend/*.c)))
WORKER_OBJS  = $(patsubst %.c,%.o,$(sort $(wildcard src/worker/*.c)))
OBJS = src/mana_sync.o $(CORE_OBJS) $(BACKEND_OBJS) $(WORKER_OBJS)

DATA = sql/mana_sync--$(EXTVERSION).sql

REGRESS = enable lww types trigger skew ownership pull badinput security
REGRESS_OPTS = --load-extension=mana_sync --dbname=mana_regress

# isolation specs (concurrency, NOTIFY) live in test/isolation
ISOLATION = concurrency notify
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation --load-extension=mana_sync

PG_CONFIG ?= pg_config
PG_CPPFLAGS += -I$(srcdir)/src -I$(libpq_srcdir) $(shell pkg-config --cflags libwebsockets openssl)
# libpq inside the module, as contrib's dblink does (PG_LIBS only serves PROGRAM)
SHLIB_LINK_INTERNAL = $(libpq)
SHLIB_LINK += $(shell pkg-config --libs libwebsockets openssl) -lev
ifdef MANA_WERROR
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# ---- unit tests of the pure C ------------------------------------------
# Debian's clang-14 package installs clang-14, not clang
UNIT_CC     ?= $(shell command -v clang-14 || command -v clang || echo clang-14)
UNIT_CFLAGS = -std=c11 -g -O1 -Wall -Wextra -Werror -Isrc/core \
              -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
UNIT_TESTS  = test/unit/test_iso8601 test/unit/test_b64url test/unit/test_cursor \
              test/unit/test_lww test/unit/test_names test/unit/test_notify_payload \
              test/unit/test_json test/unit/test_jwt test/unit/test_wsproto test/unit/test_hub \
              test/unit/test_chunked
CORE_SRCS   = $(sort $(wildcard src/core/*.c))

test/unit/%: test/unit/%.c $(CORE_SRCS) src/core/*.h test/unit/*.h
	$(UNIT_CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) -lcmocka -lcrypto

.PHONY: unit
unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./$$t; done

clean: clean-unit
clean-unit:
	rm -f $(UNIT_TESTS)

# libFuzzer harnesses of the pure C (make fuzz FUZZ_SECONDS=10; see test/fuzz/README.md)
include test/fuzz/fuzz.mk
