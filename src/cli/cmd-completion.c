/* SPDX-License-Identifier: MIT */
/*
 * `boxlite completion bash|zsh|fish` (hidden): shell completion scripts made from the command
 * table itself — each command's options are read from its help text — so they always list every
 * visible command and flag, and never a hidden one.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define MAX_FLAGS 64

struct flag {
    char shrt;      /* 0 if none */
    char lng[40];   /* without the dashes */
    char desc[100]; /* may be empty */
    int takes_value;
};

/* The flags of a help text: lines "  -x, --long <V>   Description" or "      --long ...". */
static size_t parse_flags(const char *help, struct flag *out, size_t max)
{
    size_t n = 0;
    for (const char *line = help; line && *line && n < max;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t) (nl - line) : strlen(line);
        const char *p = line, *end = line + len;
        while (p < end && *p == ' ')
            p++;
        struct flag f = {0};
        if (p + 1 < end && p[0] == '-' && p[1] != '-') {
            f.shrt = p[1];
            p += 2;
            if (p < end && *p == ',')
                p++;
            while (p < end && *p == ' ')
                p++;
        }
        if (p + 2 < end && p[0] == '-' && p[1] == '-') {
            p += 2;
            size_t k = 0;
            while (p < end && (isalnum((unsigned char) *p) || *p == '-') && k + 1 < sizeof(f.lng))
                f.lng[k++] = *p++;
            f.lng[k] = 0;
            while (p < end && *p == ' ')
                p++;
            if (p < end && *p == '<') {
                f.takes_value = 1;
                while (p < end && *p != '>')
                    p++;
                p += p < end;
            }
            while (p < end && *p == ' ')
                p++;
            size_t dl = (size_t) (end - p);
            if (dl >= sizeof(f.desc))
                dl = sizeof(f.desc) - 1;
            memcpy(f.desc, p, dl);
            f.desc[dl] = 0;
            for (char *c = f.desc; *c; c++)
                if (*c == '\'' || *c == '"' || *c == '\\' || *c == '$' || *c == '`')
                    *c = ' ';
            if (f.lng[0])
                out[n++] = f;
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

static const struct flag global_flags[] = {
    {0, "home", "BoxLite home directory", 1},
    {0, "debug", "Enable debug output", 0},
    {0, "config", "Runtime configuration file (JSON)", 1},
    {0, "registry", "Image registry to search", 1},
    {'h', "help", "Print help", 0},
};

/* Commands that take a box as their first operand (ids and names are offered). */
static int takes_box(const char *name)
{
    static const char *const v[] = {"exec", "rm",   "start", "stop", "restart",
                                    "inspect", "logs", "stats"};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (!strcmp(v[i], name))
            return 1;
    return 0;
}

static void print_flag_words(const struct command *c)
{
    struct flag f[MAX_FLAGS];
    size_t n = parse_flags(c->help ? c->help : "", f, MAX_FLAGS);
    for (size_t i = 0; i < n; i++) {
        if (f[i].shrt)
            printf(" -%c", f[i].shrt);
        printf(" --%s", f[i].lng);
    }
    for (size_t i = 0; i < sizeof(global_flags) / sizeof(global_flags[0]); i++)
        printf(" --%s", global_flags[i].lng);
}

static void bash(const struct command *cmds, size_t n)
{
    printf("# bash completion for boxlite (boxlite completion bash)\n"
           "_boxlite() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
           "    local cmd=\"\" i\n"
           "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
           "        case ${COMP_WORDS[i]} in\n"
           "            --home|--config|--registry) ((i++)) ;;\n"
           "            -*) ;;\n"
           "            *) cmd=${COMP_WORDS[i]}; break ;;\n"
           "        esac\n"
           "    done\n"
           "    case $prev in\n"
           "        --home|--config|--rootfs|-i|--input) COMPREPLY=($(compgen -f -- \"$cur\")); "
           "return ;;\n"
           "    esac\n"
           "    local words\n"
           "    case $cmd in\n"
           "        \"\") words=\"");
    for (size_t i = 0; i < n; i++)
        if (!cmds[i].hidden) {
            printf("%s ", cmds[i].name);
            if (cmds[i].aliases)
                printf("%s ", cmds[i].aliases);
        }
    printf("help --home --debug --config --registry --help --version\" ;;\n");
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].hidden)
            continue;
        printf("        %s", cmds[i].name);
        if (cmds[i].aliases)
            for (const char *a = cmds[i].aliases; *a;) {
                size_t k = strcspn(a, " ");
                printf("|%.*s", (int) k, a);
                a += k + (a[k] == ' ');
            }
        printf(") words=\"");
        print_flag_words(&cmds[i]);
        printf("\"\n");
        if (takes_box(cmds[i].name))
            printf("            [[ $cur == -* ]] || words=\"$words $(boxlite ls -a -q "
                   "2>/dev/null)\" ;;\n");
        else
            printf("            [[ $cur == -* ]] || { COMPREPLY=($(compgen -f -- \"$cur\")); "
                   "return; } ;;\n");
    }
    printf("        help) words=\"");
    for (size_t i = 0; i < n; i++)
        if (!cmds[i].hidden)
            printf("%s ", cmds[i].name);
    printf("\" ;;\n"
           "    esac\n"
           "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
           "}\n"
           "complete -F _boxlite boxlite\n");
}

static void zsh(const struct command *cmds, size_t n)
{
    printf("#compdef boxlite\n"
           "# zsh completion for boxlite (boxlite completion zsh)\n"
           "_boxlite() {\n"
           "    local -a commands\n"
           "    commands=(\n");
    for (size_t i = 0; i < n; i++)
        if (!cmds[i].hidden)
            printf("        '%s:%s'\n", cmds[i].name, cmds[i].summary);
    printf("        'help:Print this message or the help of the given subcommand(s)'\n"
           "    )\n"
           "    local i cmd=\"\"\n"
           "    for ((i = 2; i < CURRENT; i++)); do\n"
           "        case $words[i] in\n"
           "            --home|--config|--registry) ((i++)) ;;\n"
           "            -*) ;;\n"
           "            *) cmd=$words[i]; break ;;\n"
           "        esac\n"
           "    done\n"
           "    if [[ -z $cmd ]]; then\n"
           "        if [[ $PREFIX == -* ]]; then\n"
           "            compadd -- --home --debug --config --registry --help --version\n"
           "        else\n"
           "            _describe 'command' commands\n"
           "        fi\n"
           "        return\n"
           "    fi\n"
           "    local -a flags\n"
           "    case $cmd in\n");
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].hidden)
            continue;
        printf("        %s", cmds[i].name);
        if (cmds[i].aliases)
            for (const char *a = cmds[i].aliases; *a;) {
                size_t k = strcspn(a, " ");
                printf("|%.*s", (int) k, a);
                a += k + (a[k] == ' ');
            }
        printf(") flags=(");
        print_flag_words(&cmds[i]);
        printf(") ;;\n");
    }
    printf("    esac\n"
           "    if [[ $PREFIX == -* ]]; then\n"
           "        compadd -- $flags\n"
           "    else\n"
           "        case $cmd in\n"
           "            exec|rm|start|stop|restart|inspect|logs|stats)\n"
           "                compadd -- ${(f)\"$(boxlite ls -a -q 2>/dev/null)\"} ;;\n"
           "            *) _files ;;\n"
           "        esac\n"
           "    fi\n"
           "}\n"
           "compdef _boxlite boxlite\n");
}

static void fish_flag(const char *cond, const struct flag *f)
{
    printf("complete -c boxlite -n '%s'", cond);
    if (f->shrt)
        printf(" -s %c", f->shrt);
    printf(" -l %s", f->lng);
    if (f->takes_value)
        printf(" -r");
    if (f->desc[0])
        printf(" -d '%s'", f->desc);
    printf("\n");
}

static void fish(const struct command *cmds, size_t n)
{
    printf("# fish completion for boxlite (boxlite completion fish)\n"
           "complete -c boxlite -f\n");
    for (size_t i = 0; i < sizeof(global_flags) / sizeof(global_flags[0]); i++)
        fish_flag("true", &global_flags[i]);
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].hidden)
            continue;
        printf("complete -c boxlite -n '__fish_use_subcommand' -a %s -d '%s'\n", cmds[i].name,
               cmds[i].summary);
        char cond[256];
        snprintf(cond, sizeof(cond), "__fish_seen_subcommand_from %s%s%s", cmds[i].name,
                 cmds[i].aliases ? " " : "", cmds[i].aliases ? cmds[i].aliases : "");
        struct flag f[MAX_FLAGS];
        size_t k = parse_flags(cmds[i].help ? cmds[i].help : "", f, MAX_FLAGS);
        for (size_t j = 0; j < k; j++)
            fish_flag(cond, &f[j]);
        if (takes_box(cmds[i].name))
            printf("complete -c boxlite -n '%s' -a '(boxlite ls -a -q 2>/dev/null)'\n", cond);
        else
            printf("complete -c boxlite -n '%s' -F\n", cond);
    }
    printf("complete -c boxlite -n '__fish_use_subcommand' -a help -d 'Print help'\n");
}

CMD(completion)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("Generate a shell completion script\n\nUsage: boxlite completion <SHELL>\n\n"
               "Arguments:\n  <SHELL>  [possible values: bash, zsh, fish]\n");
        return EXIT_OK;
    }
    if (argc < 2)
        return cli_usage_missing(cmd, "<SHELL>");
    if (argc > 2)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[2]);
    size_t n = 0;
    const struct command *cmds = cli_commands(&n);
    if (!strcmp(argv[1], "bash"))
        bash(cmds, n);
    else if (!strcmp(argv[1], "zsh"))
        zsh(cmds, n);
    else if (!strcmp(argv[1], "fish"))
        fish(cmds, n);
    else
        return cli_usage_invalid(cmd, argv[1], "<SHELL>", "bash, zsh, fish");
    return EXIT_OK;
}
