#include "actors/supervised.hpp"

#include <caf/make_message.hpp>

namespace clean {

namespace {
const caf::atom_value category = caf::atom("clean");
}

caf::error make_error(errc code) {
  return caf::error{static_cast<uint8_t>(code), category};
}

caf::error make_error(errc code, std::string detail, std::string message, std::string field) {
  return caf::error{static_cast<uint8_t>(code), category,
                    caf::make_message(std::move(detail), std::move(message), std::move(field))};
}

error_detail detail_of(const caf::error& err) {
  error_detail out;
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string, std::string, std::string>()) {
    out.code = ctx.get_as<std::string>(0);
    out.message = ctx.get_as<std::string>(1);
    out.field = ctx.get_as<std::string>(2);
  }
  return out;
}

bool is(const caf::error& err, errc code) {
  return err.category() == category && err.code() == static_cast<uint8_t>(code);
}

} // namespace clean
