#include <string>
namespace hi {}
