// Writes the bash completion for unitsyncctl to stdout, generated from the very CLI11
// definitions the binary is built from (admin-cli/cli.h BuildApp), so a new subcommand
// or flag is completed without anyone editing a script. Run at build time; the package
// installs the output as /usr/share/bash-completion/completions/unitsyncctl.
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "admin-cli/cli.h"

namespace {

// Options whose value is a file or directory: complete file names after them.
const std::set<std::string> kPathOptions = {"--db",     "--socket", "--config", "--out",
                                            "--bundle", "--ca",     "--dir"};

struct Command {
  std::string path;  // "", "action", "action add", ...
  std::vector<std::string> subcommands;
  std::vector<std::string> flags;        // every --name and -n of this command
  std::vector<std::string> valued;       // those that take a value
  std::vector<std::string> path_valued;  // those whose value is a path
  bool file_positional = false;          // a positional argument that is a file
};

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

void Collect(const CLI::App& app, const std::string& path, std::vector<Command>& out) {
  Command c;
  c.path = path;
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->nonpositional()) {
      if (opt->get_name() == "file") c.file_positional = true;
      continue;
    }
    std::vector<std::string> names;
    for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
    for (const auto& s : opt->get_snames()) names.push_back("-" + s);
    const bool takes_value = opt->get_type_size_max() > 0;
    // --help/-h of a subcommand: already offered with the top level's flags.
    if (!path.empty() && opt == app.get_help_ptr()) continue;
    for (const auto& n : names) {
      c.flags.push_back(n);
      if (takes_value) c.valued.push_back(n);
      if (takes_value && kPathOptions.contains(n)) c.path_valued.push_back(n);
    }
  }
  std::vector<const CLI::App*> subs = app.get_subcommands([](const CLI::App*) { return true; });
  for (const CLI::App* sub : subs) c.subcommands.push_back(sub->get_name());
  out.push_back(c);
  for (const CLI::App* sub : subs) {
    Collect(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
  }
}

// case "$1" in "PATH") echo "WORDS" ;; ... esac, as a bash function.
void CaseFunction(std::ostream& out, const std::string& name, const std::vector<Command>& commands,
                  std::vector<std::string> Command::*field) {
  out << name << "() {\n  case \"$1\" in\n";
  for (const Command& c : commands) {
    if ((c.*field).empty()) continue;
    out << "    \"" << c.path << "\") echo \"" << Join(c.*field) << "\" ;;\n";
  }
  out << "  esac\n}\n";
}

}  // namespace

int main() {
  std::ostringstream sink;
  unitsync::cli::Context ctx(sink, sink);
  CLI::App app;
  unitsync::cli::BuildApp(app, ctx);
  std::vector<Command> commands;
  Collect(app, "", commands);

  std::ostream& out = std::cout;
  out << "# bash completion for unitsyncctl. Generated from unitsyncctl's own command-line\n"
         "# definitions by packaging/completion_gen.cc at build time: do not edit.\n"
         "# shellcheck shell=bash\n\n";
  CaseFunction(out, "__unitsyncctl_subcommands", commands, &Command::subcommands);
  CaseFunction(out, "__unitsyncctl_flags", commands, &Command::flags);
  CaseFunction(out, "__unitsyncctl_valued", commands, &Command::valued);
  CaseFunction(out, "__unitsyncctl_path_valued", commands, &Command::path_valued);
  out << "__unitsyncctl_file_positional() {\n  case \"$1\" in\n";
  for (const Command& c : commands) {
    if (c.file_positional) out << "    \"" << c.path << "\") return 0 ;;\n";
  }
  out << "  esac\n  return 1\n}\n\n";
  // Global flags may follow the subcommand (the app falls through), so the top-level
  // ones are offered at every level.
  out << R"BASH(_unitsyncctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local path="" i w skip=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ -n $skip ]]; then skip=""; continue; fi
    if [[ $w == -* ]]; then
      [[ $w != *=* && " $(__unitsyncctl_valued "$path") $(__unitsyncctl_valued "") " == *" $w "* ]] && skip=1
      continue
    fi
    if [[ " $(__unitsyncctl_subcommands "$path") " == *" $w "* ]]; then
      path=${path:+$path }$w
    fi
  done
  if [[ " $(__unitsyncctl_path_valued "$path") $(__unitsyncctl_path_valued "") " == *" $prev "* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    return
  fi
  if [[ " $(__unitsyncctl_valued "$path") $(__unitsyncctl_valued "") " == *" $prev "* ]]; then
    COMPREPLY=()
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(__unitsyncctl_flags "$path") $(__unitsyncctl_flags "")" -- "$cur"))
    return
  fi
  local subs
  subs=$(__unitsyncctl_subcommands "$path")
  if [[ -n $subs ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  elif __unitsyncctl_file_positional "$path"; then
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _unitsyncctl unitsyncctl
)BASH";
  return out.good() ? 0 : 1;
}
