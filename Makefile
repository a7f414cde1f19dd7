# The README's commands. Everything builds with CMake + Ninja under build*/;
# binaries land in build/bin/.
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: setup build test demo asan tsan bench coverage format clean package package-test

setup:
	@scripts/setup

build: setup
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS)

test: build
	ctest --test-dir build --output-on-failure -j $(JOBS)

# The Debian package: build/package/unitsync_<version>_<arch>.deb (packaging/).
# Builds only what the package holds, not the tests.
package: setup
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS) --target unitsyncd unitsyncctl unitsync_package_files
	rm -f build/package/unitsync_*.deb
	cpack --config build/CPackConfig.cmake -B build/package

# Checks the package: lintian, systemd-analyze verify and security, and install, upgrade,
# remove and purge in a throwaway Debian 12 chroot (packaging/test-package; root needed).
package-test: package
	packaging/test-package build/package

demo: build
	scripts/demo

# The sanitizer builds run the whole suite, the simulation with SAN_SIM_SEEDS seeds per
# shard (8 shards; `make test` runs 250 per shard): the sanitizers look for memory and
# race errors in the same code paths, and a seed costs them 5-20 times more.
SAN_SIM_SEEDS ?= 50

asan: setup
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DUNITSYNC_SANITIZE=address,undefined -DUNITSYNC_SIM_SEEDS_PER_SHARD=$(SAN_SIM_SEEDS) $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS)

tsan: setup
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DUNITSYNC_SANITIZE=thread -DUNITSYNC_SIM_SEEDS_PER_SHARD=$(SAN_SIM_SEEDS) $(CMAKE_FLAGS)
	cmake --build build-tsan -j $(JOBS)
	ctest --test-dir build-tsan --output-on-failure -j $(JOBS)

bench: setup
	cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build build-bench -j $(JOBS)
	scripts/bench

# Branch and line coverage of store/ and protocol/ (scripts/coverage; tests/RELIABILITY.md
# "Coverage"): a Debug build with gcov counters in build-cov/, the whole suite with
# COV_SIM_SEEDS seeds per simulation shard, then gcovr; reports in build-cov/coverage/.
# Not in CI: too slow for its budget.
COV_SIM_SEEDS ?= 25

coverage: setup
	JOBS=$(JOBS) COV_SIM_SEEDS=$(COV_SIM_SEEDS) CMAKE_FLAGS="$(CMAKE_FLAGS)" scripts/coverage

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build build-asan build-tsan build-bench build-cov
