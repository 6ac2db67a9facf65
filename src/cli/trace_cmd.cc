#include "cli/commands.h"

namespace hop::cli {

// Placeholder until src/trace/ lands: registers nothing so the command is not advertised.
void register_trace(CLI::App&) {}

}  // namespace hop::cli
