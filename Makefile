# MusicFS - the two commands of the README, and a few helpers.
#
#   make run  [ORIGIN=~/Music] [MOUNT=./mnt]   build, then mount (a demo
#                                              library if ORIGIN is unset)
#   make test                                  every test, in a normal and
#                                              a sanitizer (ASan+UBSan) build,
#                                              then each fuzzer for 20 s
#   make stop [MOUNT=./mnt]                    unmount
#
# Both install the Debian packages they need first (scripts/install-deps.sh).

MOUNT ?= $(CURDIR)/mnt
ORIGIN ?=
CACHE_DIR ?= $(CURDIR)/.musicfs-cache
DEMO_DIR := $(CURDIR)/demo/library
BUILD := build
BUILD_ASAN := build-asan
# make run builds without the tests, so it needs only the run packages
BUILD_RUN := build-run

.PHONY: all deps test-deps build build-asan build-run run stop test \
	test-unit test-asan demo clean

all: build

deps:
	@scripts/install-deps.sh run

test-deps:
	@scripts/install-deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD_RUN)/build.ninja:
	meson setup $(BUILD_RUN) -Dtests=false

build-run: deps $(BUILD_RUN)/build.ninja
	ninja -C $(BUILD_RUN) musicfs

$(BUILD_ASAN)/build.ninja:
	CC=clang meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined \
		-Db_lundef=false

build-asan: test-deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)

demo: deps
	@scripts/make-demo-library.sh $(DEMO_DIR)

run: build-run $(if $(ORIGIN),,demo)
	@mkdir -p $(MOUNT)
	@if mountpoint -q $(MOUNT); then fusermount3 -u $(MOUNT); fi
	$(BUILD_RUN)/musicfs mount $(MOUNT) --origin $(if $(ORIGIN),$(ORIGIN),$(DEMO_DIR)) \
		--cache-dir $(CACHE_DIR)
	@sleep 1
	@echo
	@echo "MusicFS is mounted on $(MOUNT) (a large library keeps appearing"
	@echo "while the first scan runs in the background):"
	@ls $(MOUNT)
	@echo
	@echo "Browse it with: ls -R $(MOUNT)"
	@echo "Unmount with:   fusermount3 -u $(MOUNT)   (or: make stop)"

stop:
	fusermount3 -u $(MOUNT)

# Sanitizer settings for the ASan/UBSan test run: any report fails it.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp

test: test-deps
	$(MAKE) build
	meson test -C $(BUILD) -v --num-processes 1
	$(MAKE) build-asan
	env $(SAN_ENV) meson test -C $(BUILD_ASAN) -v --num-processes 1 \
		--timeout-multiplier 3
	scripts/fuzz-smoke.sh

test-unit: build
	meson test -C $(BUILD) -v --suite unit

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
