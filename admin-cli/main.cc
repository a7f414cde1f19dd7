// unitsyncctl: administers a unitsync replica. See admin-cli/cli.h for the
// structure and admin-cli/exit_codes.h for the exit codes.
#include <iostream>

#include "admin-cli/cli.h"

int main(int argc, char** argv) {
  unitsync::cli::Context ctx(std::cout, std::cerr);
  CLI::App app;
  unitsync::cli::BuildApp(app, ctx);
  return unitsync::cli::Run(app, ctx, argc, argv);
}
