// Names of the error classes, for logs and metric labels.
#include "protocol/common/error.h"

namespace popgate {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Auth: return "auth";
    case ErrorKind::Temporary: return "temporary";
    case ErrorKind::Permanent: return "permanent";
    case ErrorKind::InUse: return "in_use";
    case ErrorKind::LoginDelay: return "login_delay";
    case ErrorKind::NotFound: return "not_found";
    case ErrorKind::Protocol: return "protocol";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

}  // namespace popgate
