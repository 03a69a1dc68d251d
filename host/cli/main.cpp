// The `jcas` command line: parses, dispatches to the subcommand (one file each, cli.hpp),
// and turns any error into one line and a non-zero exit.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "cli.hpp"
#include "io.hpp"
#include "mpi.hpp"
#include "version.hpp"

int run_cli(int argc, char** argv);

int main(int argc, char** argv) {
  jcas::mpi::init(&argc, &argv);
  jcas::io::remove_temporaries_on_signal();  // Ctrl-C leaves no half-written file
  const int rc = run_cli(argc, argv);
  if (rc != 0 && jcas::mpi::get().size > 1) jcas::mpi::abort_all(rc);  // no rank left waiting
  jcas::mpi::finalize();
  return rc;
}

int run_cli(int argc, char** argv) {
  CLI::App app{"jcas: max-min fair beamforming for joint communications and sensing"};
  const std::string cpu_error = jcas::cpu::instruction_set_error();
  app.set_version_flag("--version", std::string("jcas ") + jcas::version() + "\n" + jcas::build_config() +
                                        "\nthis CPU: " + (cpu_error.empty() ? "runs the CPU backend" : cpu_error));
  app.require_subcommand(1);
  using namespace jcas::cli;
  const command commands[] = {add_generate(app), add_solve(app), add_train(app),    add_montecarlo(app),
                              add_bench(app),    add_demo(app),  add_reproduce(app)};
  const CLI::App* across[] = {commands[2].app, commands[3].app};  // train and montecarlo run under mpirun
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "jcas: error: %s\n", e.what());
    return 2;
  }
  try {
    for (const command& c : commands) {
      if (!*c.app) continue;
      if (jcas::mpi::get().size > 1 && c.app != across[0] && c.app != across[1])
        throw std::invalid_argument(  // the others would write the same files from every rank
            "mpirun: only montecarlo and train run across processes (this command: " + c.app->get_name() + ")");
      return c.run();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jcas: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
