// BENCH_TRY: early return of a failed Status or Result, for the benchmark harnesses.
#pragma once

#include <tl/expected.hpp>
#include <utility>

// Returns the error of a failed Status or Result from the enclosing function.
#define BENCH_TRY(expr)                                           \
  do {                                                            \
    auto&& bench_try_result = (expr);                             \
    if (!bench_try_result) {                                      \
      return tl::unexpected(std::move(bench_try_result.error())); \
    }                                                             \
  } while (0)
