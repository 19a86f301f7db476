// Placeholder: tests of corio/serve.hpp.
#include <corio/serve.hpp>
