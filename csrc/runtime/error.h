// The runtime's internal error: a status and a message. Thrown inside csrc/runtime only;
// the C API (capi.cpp) catches it and never lets any exception cross the C boundary.
#pragma once
#include <stdexcept>
#include <string>

#include "pyrnn/pyrnn.h"

namespace pyrnn {
namespace rt {

class Error : public std::runtime_error {
 public:
  Error(pyrnn_status status, const std::string& msg) : std::runtime_error(msg), status_(status) {}
  pyrnn_status status() const { return status_; }

 private:
  pyrnn_status status_;
};

}  // namespace rt
}  // namespace pyrnn
