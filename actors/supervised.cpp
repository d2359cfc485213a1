#include "actors/supervised.hpp"

namespace clean {

namespace {
const caf::atom_value category = caf::atom("clean");
}

caf::error make_error(errc code) {
  return caf::error{static_cast<uint8_t>(code), category};
}

bool is(const caf::error& err, errc code) {
  return err.category() == category && err.code() == static_cast<uint8_t>(code);
}

} // namespace clean
