// msgpack encoding of protocol messages (protocol/FORMAT.md section 2).
//
// One strict decoder for every message: exact key sets, exact types, ranges checked,
// trailing bytes and duplicate keys rejected, msgpack limits enforced while parsing.
// Errors name the message and the field, never a field's value.
// Every function here is pure and thread-safe.
#pragma once

#include <cstddef>

#include "common/error.h"
#include "protocol/bytes.h"
#include "protocol/limits.h"
#include "protocol/message.h"

namespace unitsync::protocol {

// Checks every rule of FORMAT.md that a message struct can break (id alphabets, ranges,
// text lengths, UTF-8, rows only with NACK partial). Fails with `code`.
Status ValidateMessage(const Message& message, Errc code);

// Returns the msgpack body (no length prefix) for `message`, keys in FORMAT.md order,
// integers in their shortest form.
// Fails with kInvalidArgument (naming the field) when the struct breaks a FORMAT.md rule.
Result<Bytes> EncodeMessage(const Message& message);

// EncodeMessage + EncodeFrame in one buffer: the whole frame, ready to write.
// Fails with kInvalidArgument when the message is invalid or its body exceeds `max_frame`.
Result<Bytes> EncodeMessageFrame(const Message& message, size_t max_frame = kDefaultMaxFrame);

// Appends the whole frame to `out` (e.g. a session's write buffer, reused across frames so
// large frames do not allocate fresh memory each time).
// On failure (as EncodeMessageFrame) `out` is left as it was.
Status AppendMessageFrame(const Message& message, Bytes& out, size_t max_frame = kDefaultMaxFrame);

// Decodes one message body (the bytes after the length prefix).
// Fails with kMalformed, naming the message and field where there is one, when the body
// breaks any rule of FORMAT.md ("Strict decoding"); kInternal only if memory runs out.
// Never throws. Memory is bounded by FORMAT.md section 4 for any input.
// `max_frame` bounds bin payloads; pass the session's configured frame limit.
Result<Message> DecodeMessage(ByteView body, size_t max_frame = kDefaultMaxFrame);

}  // namespace unitsync::protocol
