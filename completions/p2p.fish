# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_p2p_global_optspecs
    string join \n config= json no-serve serve keep-going v/verbose q/quiet h/help V/version
end

function __fish_p2p_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_p2p_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_p2p_using_subcommand
    set -l cmd (__fish_p2p_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c p2p -n "__fish_p2p_needs_command" -l config -d 'Config file (default: ./p2p.conf, else the user\'s config dir)' -r -F
complete -c p2p -n "__fish_p2p_needs_command" -l json -d 'Print every command\'s result as one JSON object on one line'
complete -c p2p -n "__fish_p2p_needs_command" -l no-serve -d 'Do not serve while the REPL runs'
complete -c p2p -n "__fish_p2p_needs_command" -l serve -d 'Serve while a piped script runs too (as the REPL does), sharing what it downloads as it arrives'
complete -c p2p -n "__fish_p2p_needs_command" -l keep-going -d 'In a script, go on after a failed command'
complete -c p2p -n "__fish_p2p_needs_command" -s v -l verbose -d 'More log lines on stderr (repeat for more); RUST_LOG sets any filter'
complete -c p2p -n "__fish_p2p_needs_command" -s q -l quiet -d 'Fewer log lines on stderr (repeat for none)'
complete -c p2p -n "__fish_p2p_needs_command" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_needs_command" -s V -l version -d 'Print version'
complete -c p2p -n "__fish_p2p_needs_command" -a "serve" -d 'Share and serve, with no prompt'
complete -c p2p -n "__fish_p2p_needs_command" -a "demo" -d 'A throw-away local network of 3 peers'
complete -c p2p -n "__fish_p2p_needs_command" -a "completions" -d 'Print a shell completion script'
complete -c p2p -n "__fish_p2p_needs_command" -a "peers" -d 'list peers (ID, protocol, up/down, round trip, what they share); add, remove, forget an ID'
complete -c p2p -n "__fish_p2p_needs_command" -a "search" -d 'ask every peer for files matching a pattern (substring, or glob with * ?)'
complete -c p2p -n "__fish_p2p_needs_command" -a "get" -d 'download row N of the last search, a SHA-256, or a file name; verified'
complete -c p2p -n "__fish_p2p_needs_command" -a "browse" -d 'list a peer\'s shared folders and files; `get N` takes a row (a folder: all of it)'
complete -c p2p -n "__fish_p2p_needs_command" -a "share" -d 'list shared folders (files, bytes, % hashed), or share one more'
complete -c p2p -n "__fish_p2p_needs_command" -a "unshare" -d 'stop sharing a folder'
complete -c p2p -n "__fish_p2p_needs_command" -a "rescan" -d 're-index the shared folders (only new or changed files are hashed)'
complete -c p2p -n "__fish_p2p_needs_command" -a "files" -d 'list what this peer shares'
complete -c p2p -n "__fish_p2p_needs_command" -a "transfers" -d 'downloads of this session: running (%, rate, ETA), queued, done, failed'
complete -c p2p -n "__fish_p2p_needs_command" -a "wait" -d 'wait for background transfers (all, or N...); fails if any failed'
complete -c p2p -n "__fish_p2p_needs_command" -a "cancel" -d 'stop background transfers (N, SHA256 or all); the .part is kept for resuming'
complete -c p2p -n "__fish_p2p_needs_command" -a "set" -d 'show or change rate limits and max_active for this session (set max_rate 5MiB)'
complete -c p2p -n "__fish_p2p_needs_command" -a "id" -d 'this peer\'s ID, to give to friends who pin it'
complete -c p2p -n "__fish_p2p_needs_command" -a "help" -d 'list commands, or explain one'
complete -c p2p -n "__fish_p2p_needs_command" -a "quit" -d 'leave (also `exit`, or Ctrl-D at an empty prompt)'
complete -c p2p -n "__fish_p2p_using_subcommand serve" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand demo" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand completions" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand peers; and not __fish_seen_subcommand_from add forget remove" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand peers; and not __fish_seen_subcommand_from add forget remove" -f -a "add" -d 'Add a peer (host or host:port; port 12000 by default; host:port#ID pins its ID)'
complete -c p2p -n "__fish_p2p_using_subcommand peers; and not __fish_seen_subcommand_from add forget remove" -f -a "forget" -d 'Forget the peer ID first seen at ADDR, to accept the new one it presents'
complete -c p2p -n "__fish_p2p_using_subcommand peers; and not __fish_seen_subcommand_from add forget remove" -f -a "remove" -d 'Remove a peer, by address or by the name it answers with'
complete -c p2p -n "__fish_p2p_using_subcommand peers; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand peers; and __fish_seen_subcommand_from forget" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand peers; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand search" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand get" -l to -d 'Folder to receive the file, or the file to write (never overwritten)' -r -F
complete -c p2p -n "__fish_p2p_using_subcommand get" -l from -d 'Only download from this peer (address or name); may be repeated' -r -f -a "(__fish_p2p_words peers)"
complete -c p2p -n "__fish_p2p_using_subcommand get" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand browse" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand share" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand unshare" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand rescan" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand files" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand transfers" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand wait" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand cancel" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand set" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand id" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand help" -s h -l help -d 'Print help'
complete -c p2p -n "__fish_p2p_using_subcommand quit" -s h -l help -d 'Print help'

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
