_p2p() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="p2p"
                ;;
            p2p,browse)
                cmd="p2p__subcmd__browse"
                ;;
            p2p,cancel)
                cmd="p2p__subcmd__cancel"
                ;;
            p2p,completions)
                cmd="p2p__subcmd__completions"
                ;;
            p2p,demo)
                cmd="p2p__subcmd__demo"
                ;;
            p2p,files)
                cmd="p2p__subcmd__files"
                ;;
            p2p,get)
                cmd="p2p__subcmd__get"
                ;;
            p2p,help)
                cmd="p2p__subcmd__help"
                ;;
            p2p,id)
                cmd="p2p__subcmd__id"
                ;;
            p2p,peers)
                cmd="p2p__subcmd__peers"
                ;;
            p2p,quit)
                cmd="p2p__subcmd__quit"
                ;;
            p2p,rescan)
                cmd="p2p__subcmd__rescan"
                ;;
            p2p,search)
                cmd="p2p__subcmd__search"
                ;;
            p2p,serve)
                cmd="p2p__subcmd__serve"
                ;;
            p2p,set)
                cmd="p2p__subcmd__set"
                ;;
            p2p,share)
                cmd="p2p__subcmd__share"
                ;;
            p2p,transfers)
                cmd="p2p__subcmd__transfers"
                ;;
            p2p,unshare)
                cmd="p2p__subcmd__unshare"
                ;;
            p2p,wait)
                cmd="p2p__subcmd__wait"
                ;;
            p2p__subcmd__peers,add)
                cmd="p2p__subcmd__peers__subcmd__add"
                ;;
            p2p__subcmd__peers,forget)
                cmd="p2p__subcmd__peers__subcmd__forget"
                ;;
            p2p__subcmd__peers,remove)
                cmd="p2p__subcmd__peers__subcmd__remove"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        p2p)
            opts="-v -q -h -V --config --json --no-serve --serve --keep-going --verbose --quiet --help --version serve demo completions peers search get browse share unshare rescan files transfers wait cancel set id help quit"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__browse)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__cancel)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__completions)
            opts="-h --help bash zsh fish"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__demo)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__files)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__get)
            opts="-h --to --from --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --to)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --from)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__help)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__id)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__peers)
            opts="-h --help add forget remove"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__peers__subcmd__add)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__peers__subcmd__forget)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__peers__subcmd__remove)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__quit)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__rescan)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__search)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__serve)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__set)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__share)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__transfers)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__unshare)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        p2p__subcmd__wait)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _p2p_dynamic -o nosort -o bashdefault -o default p2p
else
    complete -F _p2p_dynamic -o bashdefault -o default p2p
fi

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
        serve|demo|completions|peers|search|get|browse|share|unshare|rescan|files|transfers|wait|cancel|set|id|help|quit)
            ;;
        *)
            # A plugin: its arguments are its own business; offer file names.
            COMPREPLY=()
            return 0
            ;;
    esac
    _p2p "$@"
}
