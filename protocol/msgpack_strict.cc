#include "protocol/msgpack_strict.h"

#include <new>
#include <string>

#include "protocol/limits.h"

namespace unitsync::protocol {
namespace {

// Reference str/bin/ext payloads in the caller's buffer: no copy, no allocation per field.
bool ReferenceEverything(msgpack::type::object_type /*type*/, std::size_t /*length*/,
                         void* /*user_data*/) {
  return true;
}

}  // namespace

Result<msgpack::object_handle> UnpackStrict(ByteView body, size_t max_bin) {
  const msgpack::unpack_limit limits(kMaxArrayElements, kMaxMapEntries, kMaxStrBytes, max_bin,
                                     /*ext=*/0, kMaxDepth);
  const char* data = reinterpret_cast<const char*>(body.data());
  std::size_t offset = 0;
  bool referenced = false;
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(data, body.size(), offset, referenced, &ReferenceEverything, nullptr,
                             limits);
  } catch (const msgpack::insufficient_bytes&) {
    return Fail(Errc::kMalformed, "message body is truncated msgpack");
  } catch (const msgpack::depth_size_overflow&) {
    return Fail(Errc::kMalformed,
                "message nests deeper than " + std::to_string(kMaxDepth) + " levels");
  } catch (const msgpack::array_size_overflow&) {
    return Fail(Errc::kMalformed,
                "msgpack array exceeds " + std::to_string(kMaxArrayElements) + " elements");
  } catch (const msgpack::map_size_overflow&) {
    return Fail(Errc::kMalformed,
                "msgpack map exceeds " + std::to_string(kMaxMapEntries) + " entries");
  } catch (const msgpack::str_size_overflow&) {
    return Fail(Errc::kMalformed, "msgpack str exceeds " + std::to_string(kMaxStrBytes) + " bytes");
  } catch (const msgpack::bin_size_overflow&) {
    return Fail(Errc::kMalformed, "msgpack bin exceeds " + std::to_string(max_bin) + " bytes");
  } catch (const msgpack::ext_size_overflow&) {
    return Fail(Errc::kMalformed, "msgpack ext is not allowed");
  } catch (const msgpack::parse_error&) {
    return Fail(Errc::kMalformed, "message body is not valid msgpack");
  } catch (const std::bad_alloc&) {
    return Fail(Errc::kInternal, "out of memory while decoding a message");
  } catch (...) {
    return Fail(Errc::kMalformed, "message body is not valid msgpack");
  }
  if (offset != body.size()) {
    return Fail(Errc::kMalformed,
                std::to_string(body.size() - offset) + " trailing bytes after the message");
  }
  return handle;
}

}  // namespace unitsync::protocol
