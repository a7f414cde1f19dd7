#include "store/msgpack_io.h"

namespace unitsync::store {

Result<msgpack::object_handle> UnpackStrict(std::span<const uint8_t> bytes, std::string_view what,
                                            const UnpackLimits& limits) {
  if (bytes.empty()) return Fail(Errc::kMalformed, std::string(what) + ": empty");
  const msgpack::unpack_limit limit(limits.max_array, limits.max_map, limits.max_str,
                                    limits.max_bin, /*ext=*/0, limits.max_depth);
  std::size_t offset = 0;
  try {
    msgpack::object_handle handle = msgpack::unpack(reinterpret_cast<const char*>(bytes.data()),
                                                    bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size()) {
      return Fail(Errc::kMalformed, std::string(what) + ": " +
                                        std::to_string(bytes.size() - offset) +
                                        " trailing bytes after the object");
    }
    return handle;
  } catch (const msgpack::depth_size_overflow&) {
    return Fail(Errc::kMalformed, std::string(what) + ": nested too deeply");
  } catch (const msgpack::size_overflow&) {
    return Fail(Errc::kMalformed, std::string(what) + ": a size exceeds its limit");
  } catch (const msgpack::insufficient_bytes&) {
    return Fail(Errc::kMalformed, std::string(what) + ": truncated");
  } catch (const std::exception& e) {
    return Fail(Errc::kMalformed, std::string(what) + ": not valid msgpack (" + e.what() + ")");
  }
}

}  // namespace unitsync::store
