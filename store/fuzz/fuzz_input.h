// The merge fuzzer's input format (store/fuzz/DESIGN.md): a byte program read by
// FuzzInput, one operation after another, each an opcode byte and its operands.
// Every byte string is a valid program: a read past the end yields 0, so a
// truncated input is just a shorter one, and libFuzzer's byte mutations stay
// meaningful (they change an operand or an opcode, not the parser's footing).
//
// The seed writer (make_seeds.cc) writes programs with the same opcodes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace unitsync::store::fuzz {

// One step of a fuzz program. Operands (one byte each unless said otherwise) are
// documented in merge_fuzz.cc beside the code that reads them.
enum class Op : uint8_t {
  kWrite = 0,     // a local INSERT/UPDATE/DELETE through SQL (capture triggers)
  kAdvance = 1,   // move one node's wall clock
  kPush = 2,      // a unit's real push: built, applied authorized at central, acked
  kPull = 3,      // central's real fan-out to a unit, applied with its cursor
  kPurge = 4,     // PurgeRow at one node
  kIncoming = 5,  // a generated changeset applied at one node (checked)
  kPair = 6,      // two generated changesets in both orders (commutativity)
  kDerived = 7,   // a real changeset from one node's log, mutated, applied at another
  kCount = 8,
};

// Reads a fuzz program. Not owning: `data` must outlive the reader.
// Callers read one operand per statement: two reads in one expression (function
// arguments, operands of |) are unsequenced, and GCC's replay build and clang's
// fuzz build could then read the same input differently.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return empty() ? 0 : size_ - pos_; }

  // The next byte, or 0 once the input is exhausted.
  uint8_t Byte() { return empty() ? 0 : data_[pos_++]; }
  // A value in [0, n); REQUIRES: n > 0.
  size_t Pick(size_t n) { return Byte() % n; }
  bool Flag() { return (Byte() & 1) != 0; }
  uint16_t U16() {
    const uint16_t high = Byte();  // two statements: operands of | are unsequenced
    return static_cast<uint16_t>(high << 8 | Byte());
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace unitsync::store::fuzz
