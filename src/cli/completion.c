/* SPDX-License-Identifier: MIT */
/*
 * `boxlite completion bash|zsh|fish` (hidden): shell completion scripts made from the command
 * table and each command's option table, so they always list every visible command and flag,
 * and never a hidden one.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* A description as a shell may quote it: its first line, without quote or expansion
 * characters, at most 99 bytes. */
static void flag_description(const struct cli_option *o, char *buf, size_t size)
{
    size_t len = strcspn(o->help, "\n");
    if (len >= size)
        len = size - 1;
    memcpy(buf, o->help, len);
    buf[len] = 0;
    for (char *c = buf; *c; c++)
        if (*c == '\'' || *c == '"' || *c == '\\' || *c == '$' || *c == '`')
            *c = ' ';
}

/* "name|alias|alias" */
static void print_names(const struct cli_command *c)
{
    printf("%s", c->name);
    if (c->aliases)
        for (const char *a = c->aliases; *a;) {
            size_t k = strcspn(a, " ");
            printf("|%.*s", (int) k, a);
            a += k + (a[k] == ' ');
        }
}

/* " -x --long ..." for a command's visible options, then the global ones */
static void print_flag_words(const struct cli_command *c)
{
    for (const struct cli_option *o = c->options; o && o->name; o++) {
        if (!o->help)
            continue;
        if (o->short_name)
            printf(" -%c", o->short_name);
        printf(" --%s", o->name);
    }
    for (const struct cli_option *o = cli_global_options; o->name; o++)
        if (!(o->flags & CLI_OPT_TOP_LEVEL))
            printf(" --%s", o->name);
}

/* every global option, " --a --b" (top-level words) */
static void print_global_words(void)
{
    for (const struct cli_option *o = cli_global_options; o->name; o++)
        printf(" --%s", o->name);
}

/* "--a|--b": the global options that take a value (skipped over when looking for the command) */
static void print_global_with_value(void)
{
    const char *sep = "";
    for (const struct cli_option *o = cli_global_options; o->name; o++)
        if (o->arg) {
            printf("%s--%s", sep, o->name);
            sep = "|";
        }
}

/* "--home|--config|--rootfs|-i|--input": every visible option whose value is a file, once */
static void print_file_options(const struct cli_command *cmds, size_t n)
{
    const struct cli_option *done[64];
    size_t n_done = 0;
    const char *sep = "";
    for (size_t i = 0; i <= n; i++) {
        if (i > 0 && (cmds[i - 1].flags & CLI_CMD_HIDDEN))
            continue;
        for (const struct cli_option *o = i == 0 ? cli_global_options : cmds[i - 1].options;
             o && o->name; o++) {
            if (o->complete != CLI_COMPLETE_FILE || !o->help)
                continue;
            int dup = 0;
            for (size_t k = 0; k < n_done && !dup; k++)
                dup = !strcmp(done[k]->name, o->name) && done[k]->short_name == o->short_name;
            if (dup || n_done == sizeof(done) / sizeof(done[0]))
                continue;
            done[n_done++] = o;
            if (o->short_name) {
                printf("%s-%c", sep, o->short_name);
                sep = "|";
            }
            printf("%s--%s", sep, o->name);
            sep = "|";
        }
    }
}

static void bash(const struct cli_command *cmds, size_t n)
{
    printf("# bash completion for boxlite (boxlite completion bash)\n"
           "_boxlite() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
           "    local cmd=\"\" i\n"
           "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
           "        case ${COMP_WORDS[i]} in\n"
           "            ");
    print_global_with_value();
    printf(") ((i++)) ;;\n"
           "            -*) ;;\n"
           "            *) cmd=${COMP_WORDS[i]}; break ;;\n"
           "        esac\n"
           "    done\n"
           "    case $prev in\n"
           "        ");
    print_file_options(cmds, n);
    printf(") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
           "    esac\n"
           "    local words\n"
           "    case $cmd in\n"
           "        \"\") words=\"");
    for (size_t i = 0; i < n; i++)
        if (!(cmds[i].flags & CLI_CMD_HIDDEN)) {
            printf("%s ", cmds[i].name);
            if (cmds[i].aliases)
                printf("%s ", cmds[i].aliases);
        }
    printf("help");
    print_global_words();
    printf("\" ;;\n");
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].flags & CLI_CMD_HIDDEN)
            continue;
        printf("        ");
        print_names(&cmds[i]);
        printf(") words=\"");
        print_flag_words(&cmds[i]);
        printf("\"\n");
        if (cmds[i].operands == CLI_COMPLETE_BOX)
            printf("            [[ $cur == -* ]] || words=\"$words $(boxlite ls -a -q "
                   "2>/dev/null)\" ;;\n");
        else
            printf("            [[ $cur == -* ]] || { COMPREPLY=($(compgen -f -- \"$cur\")); "
                   "return; } ;;\n");
    }
    printf("        help) words=\"");
    for (size_t i = 0; i < n; i++)
        if (!(cmds[i].flags & CLI_CMD_HIDDEN))
            printf("%s ", cmds[i].name);
    printf("\" ;;\n"
           "    esac\n"
           "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
           "}\n"
           "complete -F _boxlite boxlite\n");
}

static void zsh(const struct cli_command *cmds, size_t n)
{
    printf("#compdef boxlite\n"
           "# zsh completion for boxlite (boxlite completion zsh)\n"
           "_boxlite() {\n"
           "    local -a commands\n"
           "    commands=(\n");
    for (size_t i = 0; i < n; i++)
        if (!(cmds[i].flags & CLI_CMD_HIDDEN))
            printf("        '%s:%s'\n", cmds[i].name, cmds[i].summary);
    printf("        'help:Print this message or the help of the given subcommand(s)'\n"
           "    )\n"
           "    local i cmd=\"\"\n"
           "    for ((i = 2; i < CURRENT; i++)); do\n"
           "        case $words[i] in\n"
           "            ");
    print_global_with_value();
    printf(") ((i++)) ;;\n"
           "            -*) ;;\n"
           "            *) cmd=$words[i]; break ;;\n"
           "        esac\n"
           "    done\n"
           "    if [[ -z $cmd ]]; then\n"
           "        if [[ $PREFIX == -* ]]; then\n"
           "            compadd --");
    print_global_words();
    printf("\n"
           "        else\n"
           "            _describe 'command' commands\n"
           "        fi\n"
           "        return\n"
           "    fi\n"
           "    local -a flags\n"
           "    case $cmd in\n");
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].flags & CLI_CMD_HIDDEN)
            continue;
        printf("        ");
        print_names(&cmds[i]);
        printf(") flags=(");
        print_flag_words(&cmds[i]);
        printf(") ;;\n");
    }
    printf("    esac\n"
           "    if [[ $PREFIX == -* ]]; then\n"
           "        compadd -- $flags\n"
           "    else\n"
           "        case $cmd in\n"
           "            ");
    const char *sep = "";
    for (size_t i = 0; i < n; i++)
        if (!(cmds[i].flags & CLI_CMD_HIDDEN) && cmds[i].operands == CLI_COMPLETE_BOX) {
            printf("%s%s", sep, cmds[i].name);
            sep = "|";
        }
    printf(")\n"
           "                compadd -- ${(f)\"$(boxlite ls -a -q 2>/dev/null)\"} ;;\n"
           "            *) _files ;;\n"
           "        esac\n"
           "    fi\n"
           "}\n"
           "compdef _boxlite boxlite\n");
}

static void fish_flag(const char *cond, const struct cli_option *o)
{
    char desc[100];
    flag_description(o, desc, sizeof(desc));
    printf("complete -c boxlite -n '%s'", cond);
    if (o->short_name)
        printf(" -s %c", o->short_name);
    printf(" -l %s", o->name);
    if (o->arg)
        printf(" -r");
    if (desc[0])
        printf(" -d '%s'", desc);
    printf("\n");
}

static void fish(const struct cli_command *cmds, size_t n)
{
    printf("# fish completion for boxlite (boxlite completion fish)\n"
           "complete -c boxlite -f\n");
    for (const struct cli_option *o = cli_global_options; o->name; o++)
        if (!(o->flags & CLI_OPT_TOP_LEVEL))
            fish_flag("true", o);
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].flags & CLI_CMD_HIDDEN)
            continue;
        printf("complete -c boxlite -n '__fish_use_subcommand' -a %s -d '%s'\n", cmds[i].name,
               cmds[i].summary);
        char cond[256];
        snprintf(cond, sizeof(cond), "__fish_seen_subcommand_from %s%s%s", cmds[i].name,
                 cmds[i].aliases ? " " : "", cmds[i].aliases ? cmds[i].aliases : "");
        for (const struct cli_option *o = cmds[i].options; o && o->name; o++)
            if (o->help)
                fish_flag(cond, o);
        if (cmds[i].operands == CLI_COMPLETE_BOX)
            printf("complete -c boxlite -n '%s' -a '(boxlite ls -a -q 2>/dev/null)'\n", cond);
        else
            printf("complete -c boxlite -n '%s' -F\n", cond);
    }
    printf("complete -c boxlite -n '__fish_use_subcommand' -a help -d 'Print help'\n");
}

int cmd_completion(const struct cli_command *cmd, int argc, char **argv)
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
    const struct cli_command *cmds = cli_commands(&n);
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
