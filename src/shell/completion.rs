//! Tab completion, hints and line validation for the REPL.
//!
//! Completes command names (built-in and plugins), `peers` sub-commands, known peer
//! addresses (`peers remove`, `--from`, `browse`), folders of the last `browse` (`browse
//! PEER PATH`, `get PEER:PATH/`), row numbers and hashes of the last search
//! (`get`), a built-in's flags (`get --<Tab>`), folders (`share`, `unshare`) and local
//! paths (`--to`). A line with an unterminated quote is not accepted: Enter continues it
//! on the next line.
//!
//! The shell completion scripts (`p2p completions bash|zsh|fish`) are clap's, with the
//! parts clap cannot know at generation time — peers, plugins — asked of the binary when
//! Tab is pressed, through `p2p completions peers|commands` (see [`shell_script`]).

use std::borrow::Cow;
use std::collections::HashMap;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::session::Session;
use crate::plugin;

pub struct ReplHelper {
    commands: Vec<String>,
    /// Each built-in's long flags (`--from`, `--to`, `--help`).
    flags: HashMap<String, Vec<String>>,
    peers: Vec<String>,
    /// (row number, sha256, name) of the last search.
    rows: Vec<(String, String, String)>,
    /// The last browse: its peer, and its folder rows' paths (`music/live/`), which
    /// `browse PEER PATH` and `get PEER:PATH/` complete.
    browsed: Option<(String, Vec<String>)>,
    paths: FilenameCompleter,
    hints: HistoryHinter,
}

impl ReplHelper {
    pub fn new(session: &Session) -> ReplHelper {
        let flags = session
            .registry
            .commands()
            .map(|c| (c.name().to_string(), long_flags(&c.args())))
            .collect();
        let mut helper = ReplHelper {
            commands: Vec::new(),
            flags,
            peers: Vec::new(),
            rows: Vec::new(),
            browsed: None,
            paths: FilenameCompleter::new(),
            hints: HistoryHinter::new(),
        };
        helper.refresh(session);
        helper
    }

    /// Picks up what the last command changed: peers, rows, plugins.
    pub fn refresh(&mut self, session: &Session) {
        let mut commands: Vec<String> = session
            .registry
            .commands()
            .map(|c| c.name().to_string())
            .collect();
        commands.extend(plugin::list(&session.node.settings.plugins.dirs));
        commands.sort();
        commands.dedup();
        self.commands = commands;
        self.peers = session.node.peers.iter().map(|p| p.to_string()).collect();
        self.rows = session
            .node
            .last_search
            .as_ref()
            .map(|last| {
                last.rows
                    .iter()
                    .map(|r| (r.row.to_string(), r.hash.clone(), r.name.clone()))
                    .collect()
            })
            .unwrap_or_default();
        self.browsed = session.node.last_browse.as_ref().map(|b| {
            let folders = b
                .entries
                .iter()
                .filter(|e| e.kind == crate::client::EntryKind::Dir)
                .map(|e| format!("{}/", e.path))
                .collect();
            (b.peer.to_string(), folders)
        });
    }

    fn candidates(&self, words: &[&str], current: &str) -> Option<Vec<Pair>> {
        let pairs = |items: Vec<(String, String)>| -> Vec<Pair> {
            items
                .into_iter()
                .filter(|(replacement, _)| replacement.starts_with(current))
                .map(|(replacement, display)| Pair {
                    display,
                    replacement,
                })
                .collect()
        };
        let plain =
            |items: &[String]| pairs(items.iter().map(|i| (i.clone(), i.clone())).collect());
        let Some(command) = words.first() else {
            return Some(
                plain(&self.commands)
                    .into_iter()
                    .map(|p| Pair {
                        display: p.display,
                        replacement: format!("{} ", p.replacement),
                    })
                    .collect(),
            );
        };
        let previous = words.last().copied().unwrap_or_default();
        if previous == "--from" {
            return Some(plain(&self.peers));
        }
        if current.starts_with('-') {
            if let Some(flags) = self.flags.get(*command) {
                return Some(plain(flags));
            }
        }
        match (*command, words.len()) {
            ("browse", 1) => Some(plain(&self.peers)),
            ("browse", 2) => self.browsed.as_ref().map(|(_, folders)| plain(folders)),
            ("get", 1) if current.contains(':') => self.browsed.as_ref().map(|(peer, folders)| {
                let full: Vec<String> = folders.iter().map(|f| format!("{peer}:{f}")).collect();
                plain(&full)
            }),
            ("peers", 1) => Some(plain(&[
                "add".to_string(),
                "remove".to_string(),
                "forget".to_string(),
            ])),
            ("peers", 2) if words[1] == "forget" => Some(plain(&self.peers)),
            ("peers", 2) if words[1] == "remove" => Some(plain(&self.peers)),
            ("get", 1) => Some(pairs(
                self.rows
                    .iter()
                    .flat_map(|(n, hash, name)| {
                        [
                            (n.clone(), format!("{n}  {name}")),
                            (hash.clone(), format!("{hash}  {name}")),
                        ]
                    })
                    .collect(),
            )),
            ("help", 1) => Some(plain(&self.commands)),
            _ => None,
        }
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let current = &before[start..];
        let words: Vec<&str> = before[..start].split_whitespace().collect();
        if let Some(found) = self.candidates(&words, current) {
            return Ok((start, found));
        }
        if words.last() == Some(&"--to") {
            return self.paths.complete(line, pos, ctx);
        }
        if matches!(words.first(), Some(&"share") | Some(&"unshare")) {
            // Only folders can be shared: keep the candidates that end in a separator.
            let (at, found) = self.paths.complete(line, pos, ctx)?;
            let folders = found
                .into_iter()
                .filter(|p| p.replacement.ends_with(std::path::MAIN_SEPARATOR))
                .collect();
            return Ok((at, folders));
        }
        Ok((start, Vec::new()))
    }
}

/// `--long` flags of a grammar, and `--help` (which clap adds only when it builds it).
fn long_flags(grammar: &clap::Command) -> Vec<String> {
    let mut flags: Vec<String> = grammar
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    if !flags.iter().any(|f| f == "--help") {
        flags.push("--help".to_string());
    }
    flags
}

impl Hinter for ReplHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        self.hints.hint(line, pos, ctx)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if std::env::var_os("NO_COLOR").is_some() {
            Cow::Borrowed(hint)
        } else {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        }
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(match shell_words::split(ctx.input()) {
            Err(_) => ValidationResult::Incomplete,
            Ok(_) => ValidationResult::Valid(None),
        })
    }
}

impl Helper for ReplHelper {}

/// A shell's completion script: clap's, generated from `command`, with what clap cannot
/// know when the script is made asked of the binary at Tab time instead: the peers (for
/// `get --from`, `peers remove`), every command name including plugins (for `help`, and
/// the first word), through `p2p [--config FILE] completions peers|commands|plugins`.
/// Folders only for `share`/`unshare` come from the value hints.
pub fn shell_script(shell: clap_complete::Shell, mut command: clap::Command) -> Vec<u8> {
    use clap_complete::Shell;
    let builtins: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let mut generated = Vec::new();
    clap_complete::generate(shell, &mut command, "p2p", &mut generated);
    let script = String::from_utf8_lossy(&generated).into_owned();
    let script = match shell {
        Shell::Bash => bash_script(script, &builtins),
        Shell::Zsh => zsh_script(script),
        Shell::Fish => fish_script(script),
        _ => script,
    };
    script.into_bytes()
}

fn bash_script(script: String, builtins: &[String]) -> String {
    let mut script = script.replace("complete -F _p2p ", "complete -F _p2p_dynamic ");
    script.push_str(&BASH_DYNAMIC.replace("@BUILTINS@", &builtins.join("|")));
    script
}

/// Bash: a wrapper around clap's `_p2p` that answers the dynamic cases itself.
const BASH_DYNAMIC: &str = r#"
# Added by p2p: peers and plugins are known only when Tab is pressed, so they are asked
# of p2p itself (with the --config of the line being completed).
_p2p_words() {
    local i config=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --config) config=(--config "${COMP_WORDS[i+1]}") ;;
            --config=*) config=("${COMP_WORDS[i]}") ;;
        esac
    done
    "${COMP_WORDS[0]}" "${config[@]}" completions "$1" 2>/dev/null
}

_p2p_dynamic() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local i word cmd="" sub="" nth=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        if [[ -z "$cmd" ]]; then
            case "$word" in
                --config) ((i++)) ;;
                -*) ;;
                *) cmd="$word" ;;
            esac
        elif [[ "$word" != -* && "${COMP_WORDS[i-1]}" != --from && "${COMP_WORDS[i-1]}" != --to ]]; then
            ((nth++))
            [[ $nth -eq 1 ]] && sub="$word"
        fi
    done
    case "$cmd" in
        "")
            if [[ "$cur" != -* && "$prev" != --config ]]; then
                _p2p "$@"
                COMPREPLY+=($(compgen -W "$(_p2p_words plugins)" -- "$cur"))
                return 0
            fi
            ;;
        get)
            if [[ "$prev" == --from ]]; then
                COMPREPLY=($(compgen -W "$(_p2p_words peers)" -- "$cur"))
                compopt +o default 2>/dev/null
                return 0
            fi
            ;;
        peers)
            if [[ "$sub" == remove && $nth -eq 1 && "$cur" != -* ]]; then
                COMPREPLY=($(compgen -W "$(_p2p_words peers)" -- "$cur"))
                compopt +o default 2>/dev/null
                return 0
            fi
            ;;
        help)
            if [[ $nth -eq 0 && "$cur" != -* ]]; then
                COMPREPLY=($(compgen -W "$(_p2p_words commands)" -- "$cur"))
                compopt +o default 2>/dev/null
                return 0
            fi
            ;;
        share|unshare)
            if [[ $nth -eq 0 && "$cur" != -* ]]; then
                COMPREPLY=($(compgen -d -- "$cur"))
                compopt -o filenames +o default 2>/dev/null
                return 0
            fi
            ;;
        @BUILTINS@)
            ;;
        *)
            # A plugin: its arguments are its own business; offer file names.
            COMPREPLY=()
            return 0
            ;;
    esac
    _p2p "$@"
}
"#;

fn zsh_script(script: String) -> String {
    let script = script
        .replace(":_hosts'", ":_p2p_peers'")
        .replace(":_command_names -e'", ":_p2p_command_names'")
        .replace(
            "    _describe -t commands 'p2p commands' commands \"$@\"",
            "    commands+=(${(f)\"$(_p2p_words plugins)\"})\n    _describe -t commands 'p2p commands' commands \"$@\"",
        );
    let marker = "if [ \"$funcstack[1]\" = \"_p2p\" ]; then";
    match script.find(marker) {
        Some(at) => format!("{}{ZSH_DYNAMIC}{}", &script[..at], &script[at..]),
        None => script,
    }
}

/// Zsh: helpers that ask p2p for peers and command names.
const ZSH_DYNAMIC: &str = r#"# Added by p2p: peers and plugins are asked of p2p itself when Tab is pressed.
(( $+functions[_p2p_words] )) ||
_p2p_words() {
    local -a line config
    local i
    line=(${(z)BUFFER})
    for (( i = 2; i <= $#line; i++ )); do
        case $line[i] in
            --config) config=(--config ${(Q)line[i+1]}) ;;
            --config=*) config=(${(Q)line[i]}) ;;
        esac
    done
    ${(Q)line[1]:-p2p} $config completions $1 2>/dev/null
}
(( $+functions[_p2p_peers] )) ||
_p2p_peers() {
    local -a peers
    peers=(${(f)"$(_p2p_words peers)"})
    _describe -t peers 'peer' peers
}
(( $+functions[_p2p_command_names] )) ||
_p2p_command_names() {
    local -a names
    names=(${(f)"$(_p2p_words commands)"})
    _describe -t commands 'command' names
}

"#;

fn fish_script(script: String) -> String {
    let mut script = script.replace(
        "\"(__fish_print_hostnames)\"",
        "\"(__fish_p2p_words peers)\"",
    );
    script.push_str(FISH_DYNAMIC);
    script
}

/// Fish: peers, plugins and command names asked of p2p itself; positionals clap leaves out.
const FISH_DYNAMIC: &str = r#"
# Added by p2p: peers and plugins are asked of p2p itself when Tab is pressed.
function __fish_p2p_words
    set -l tokens (commandline -opc)
    set -l config
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case --config
                set config --config $tokens[(math $i + 1)]
            case '--config=*'
                set config $tokens[$i]
        end
    end
    $tokens[1] $config completions $argv[1] 2>/dev/null
end
complete -c p2p -n "__fish_p2p_needs_command" -f -a "(__fish_p2p_words plugins)" -d 'plugin'
complete -c p2p -n "__fish_p2p_using_subcommand peers; and __fish_seen_subcommand_from remove" -f -a "(__fish_p2p_words peers)"
complete -c p2p -n "__fish_p2p_using_subcommand help" -f -a "(__fish_p2p_words commands)"
complete -c p2p -n "__fish_p2p_using_subcommand share" -f -a "(__fish_complete_directories)"
complete -c p2p -n "__fish_p2p_using_subcommand unshare" -f -a "(__fish_complete_directories)"
"#;
