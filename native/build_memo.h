#ifndef STRATA_BUILD_MEMO_H
#define STRATA_BUILD_MEMO_H

/* For `strata build …` (argv as main() got it): 1 when the build memo answered, its output
 * written; -1 when it answered but the output could not be written; 0 when it could not
 * answer (the CLI must run). `entry` is the CLI script the front program would start. */
int build_memo_answer(int argc, char **argv, char **envp, const char *entry);

#endif
