#compdef p2p

autoload -U is-at-least

_p2p() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'--config=[Config file (default\: ./p2p.conf, else the user'\''s config dir)]:FILE:_files' \
'--json[Print every command'\''s result as one JSON object on one line]' \
'--no-serve[Do not serve while the REPL runs]' \
'(--no-serve)--serve[Serve while a piped script runs too (as the REPL does), sharing what it downloads as it arrives]' \
'--keep-going[In a script, go on after a failed command]' \
'*-v[More log lines on stderr (repeat for more); RUST_LOG sets any filter]' \
'*--verbose[More log lines on stderr (repeat for more); RUST_LOG sets any filter]' \
'*-q[Fewer log lines on stderr (repeat for none)]' \
'*--quiet[Fewer log lines on stderr (repeat for none)]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'::command -- A REPL command and its arguments, or serve / demo / completions:_default' \
":: :_p2p_commands" \
"*::: :->p2p" \
&& ret=0
    case $state in
    (p2p)
        words=($line[2] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:p2p-command-$line[2]:"
        case $line[2] in
            (serve)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(demo)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'::shell:(bash zsh fish)' \
&& ret=0
;;
(peers)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
":: :_p2p__subcmd__peers_commands" \
"*::: :->peers" \
&& ret=0

    case $state in
    (peers)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:p2p-peers-command-$line[1]:"
        case $line[1] in
            (add)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':addr:_default' \
&& ret=0
;;
(forget)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':addr:_default' \
&& ret=0
;;
(remove)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':addr:_p2p_peers' \
&& ret=0
;;
        esac
    ;;
esac
;;
(search)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'*::pattern -- Substring of the file name, or a glob with * and ? (case-insensitive); with a `/` in it, matched against the path instead:_default' \
&& ret=0
;;
(get)
_arguments "${_arguments_options[@]}" : \
'--to=[Folder to receive the file, or the file to write (never overwritten)]:PATH:_files' \
'*--from=[Only download from this peer (address or name); may be repeated]:PEER:_p2p_peers' \
'-h[Print help]' \
'--help[Print help]' \
':what -- Row number of the last search, a SHA-256, or an exact file name:_default' \
&& ret=0
;;
(browse)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':peer -- The peer\: its name, host or host\:port:_default' \
'::path -- A folder of its shares (the top when left out):_default' \
&& ret=0
;;
(share)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'::dir -- A folder to share (saved to the config file):_files -/' \
&& ret=0
;;
(unshare)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':dir -- A shared folder:_files -/' \
&& ret=0
;;
(rescan)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(files)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'::pattern -- Only files matching this (substring, or glob with * and ?):_default' \
&& ret=0
;;
(transfers)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(wait)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'*::ids -- Transfer numbers (as `get ... &` and `transfers` show them); none\: every one:_default' \
&& ret=0
;;
(cancel)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':which -- A transfer number, a SHA-256 (or 8+ of its first digits), or `all`:_default' \
&& ret=0
;;
(set)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'::key -- max_rate, max_upload_rate or max_active:_default' \
'::value -- A rate ("5MiB", "512KiB", "2MB", bytes a second; 0\: none), or a count:_default' \
&& ret=0
;;
(id)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'::command -- The command to explain:_p2p_command_names' \
&& ret=0
;;
(quit)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
        esac
    ;;
esac
}

(( $+functions[_p2p_commands] )) ||
_p2p_commands() {
    local commands; commands=(
'serve:Share and serve, with no prompt' \
'demo:A throw-away local network of 3 peers' \
'completions:Print a shell completion script' \
'peers:list peers (ID, protocol, up/down, round trip, what they share); add, remove, forget an ID' \
'search:ask every peer for files matching a pattern (substring, or glob with * ?)' \
'get:download row N of the last search, a SHA-256, or a file name; verified' \
'browse:list a peer'\''s shared folders and files; \`get N\` takes a row (a folder\: all of it)' \
'share:list shared folders (files, bytes, % hashed), or share one more' \
'unshare:stop sharing a folder' \
'rescan:re-index the shared folders (only new or changed files are hashed)' \
'files:list what this peer shares' \
'transfers:downloads of this session\: running (%, rate, ETA), queued, done, failed' \
'wait:wait for background transfers (all, or N...); fails if any failed' \
'cancel:stop background transfers (N, SHA256 or all); the .part is kept for resuming' \
'set:show or change rate limits and max_active for this session (set max_rate 5MiB)' \
'id:this peer'\''s ID, to give to friends who pin it' \
'help:list commands, or explain one' \
'quit:leave (also \`exit\`, or Ctrl-D at an empty prompt)' \
    )
    commands+=(${(f)"$(_p2p_words plugins)"})
    _describe -t commands 'p2p commands' commands "$@"
}
(( $+functions[_p2p__subcmd__browse_commands] )) ||
_p2p__subcmd__browse_commands() {
    local commands; commands=()
    _describe -t commands 'p2p browse commands' commands "$@"
}
(( $+functions[_p2p__subcmd__cancel_commands] )) ||
_p2p__subcmd__cancel_commands() {
    local commands; commands=()
    _describe -t commands 'p2p cancel commands' commands "$@"
}
(( $+functions[_p2p__subcmd__completions_commands] )) ||
_p2p__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'p2p completions commands' commands "$@"
}
(( $+functions[_p2p__subcmd__demo_commands] )) ||
_p2p__subcmd__demo_commands() {
    local commands; commands=()
    _describe -t commands 'p2p demo commands' commands "$@"
}
(( $+functions[_p2p__subcmd__files_commands] )) ||
_p2p__subcmd__files_commands() {
    local commands; commands=()
    _describe -t commands 'p2p files commands' commands "$@"
}
(( $+functions[_p2p__subcmd__get_commands] )) ||
_p2p__subcmd__get_commands() {
    local commands; commands=()
    _describe -t commands 'p2p get commands' commands "$@"
}
(( $+functions[_p2p__subcmd__help_commands] )) ||
_p2p__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'p2p help commands' commands "$@"
}
(( $+functions[_p2p__subcmd__id_commands] )) ||
_p2p__subcmd__id_commands() {
    local commands; commands=()
    _describe -t commands 'p2p id commands' commands "$@"
}
(( $+functions[_p2p__subcmd__peers_commands] )) ||
_p2p__subcmd__peers_commands() {
    local commands; commands=(
'add:Add a peer (host or host\:port; port 12000 by default; host\:port#ID pins its ID)' \
'forget:Forget the peer ID first seen at ADDR, to accept the new one it presents' \
'remove:Remove a peer, by address or by the name it answers with' \
    )
    _describe -t commands 'p2p peers commands' commands "$@"
}
(( $+functions[_p2p__subcmd__peers__subcmd__add_commands] )) ||
_p2p__subcmd__peers__subcmd__add_commands() {
    local commands; commands=()
    _describe -t commands 'p2p peers add commands' commands "$@"
}
(( $+functions[_p2p__subcmd__peers__subcmd__forget_commands] )) ||
_p2p__subcmd__peers__subcmd__forget_commands() {
    local commands; commands=()
    _describe -t commands 'p2p peers forget commands' commands "$@"
}
(( $+functions[_p2p__subcmd__peers__subcmd__remove_commands] )) ||
_p2p__subcmd__peers__subcmd__remove_commands() {
    local commands; commands=()
    _describe -t commands 'p2p peers remove commands' commands "$@"
}
(( $+functions[_p2p__subcmd__quit_commands] )) ||
_p2p__subcmd__quit_commands() {
    local commands; commands=()
    _describe -t commands 'p2p quit commands' commands "$@"
}
(( $+functions[_p2p__subcmd__rescan_commands] )) ||
_p2p__subcmd__rescan_commands() {
    local commands; commands=()
    _describe -t commands 'p2p rescan commands' commands "$@"
}
(( $+functions[_p2p__subcmd__search_commands] )) ||
_p2p__subcmd__search_commands() {
    local commands; commands=()
    _describe -t commands 'p2p search commands' commands "$@"
}
(( $+functions[_p2p__subcmd__serve_commands] )) ||
_p2p__subcmd__serve_commands() {
    local commands; commands=()
    _describe -t commands 'p2p serve commands' commands "$@"
}
(( $+functions[_p2p__subcmd__set_commands] )) ||
_p2p__subcmd__set_commands() {
    local commands; commands=()
    _describe -t commands 'p2p set commands' commands "$@"
}
(( $+functions[_p2p__subcmd__share_commands] )) ||
_p2p__subcmd__share_commands() {
    local commands; commands=()
    _describe -t commands 'p2p share commands' commands "$@"
}
(( $+functions[_p2p__subcmd__transfers_commands] )) ||
_p2p__subcmd__transfers_commands() {
    local commands; commands=()
    _describe -t commands 'p2p transfers commands' commands "$@"
}
(( $+functions[_p2p__subcmd__unshare_commands] )) ||
_p2p__subcmd__unshare_commands() {
    local commands; commands=()
    _describe -t commands 'p2p unshare commands' commands "$@"
}
(( $+functions[_p2p__subcmd__wait_commands] )) ||
_p2p__subcmd__wait_commands() {
    local commands; commands=()
    _describe -t commands 'p2p wait commands' commands "$@"
}

# Added by p2p: peers and plugins are asked of p2p itself when Tab is pressed.
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

if [ "$funcstack[1]" = "_p2p" ]; then
    _p2p "$@"
else
    compdef _p2p p2p
fi
