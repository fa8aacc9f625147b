/* The build memo's edit replay: a COPY-last image's top layer made again from the copied files,
 * when nothing else the build read has changed (see src/cli/edit-replay.ts, which writes what
 * this reads, and native/build_memo.c, which calls it). */
#ifndef STRATA_EDIT_REPLAY_H
#define STRATA_EDIT_REPLAY_H

#include <stdbool.h>
#include <stddef.h>

/* One record of a memo file: "<tag> <length>\n<payload>\n". */
struct memo_rec {
  char tag[17];
  const char *payload;
  size_t len;
};

enum tree_state { TREE_SAME, TREE_HOT_CHANGED, TREE_CHANGED };

struct replay;

/* Walks the context named by the record's `tree` once: TREE_SAME when nothing changed,
 * TREE_HOT_CHANGED when only the hot files did (and the record can replay), else
 * TREE_CHANGED. *out (freed by replay_free) keeps what the walk found for edit_replay. */
enum tree_state replay_check_tree(const struct memo_rec *recs, size_t n, struct replay **out);

/* Makes the layer, the config, the manifest, writes them and the records as the CLI would,
 * prints what the record says a replay prints, and leaves the record of the new state at
 * `memo_path`. 1: done; 0: nothing visible happened (the caller starts the CLI; blobs written
 * meanwhile are garbage the store's GC takes); -1: done, but the output could not be written. */
int edit_replay(const struct memo_rec *recs, size_t n, const char *memo_path, struct replay *r);

void replay_free(struct replay *r);

/* write(2) until all of `data` is written (or an error). */
bool memo_write_all(int fd, const char *data, size_t len);

/* STRATA_BUILD_MEMO=explain: say on stderr why the record did not answer (build_memo.c). */
void memo_explain(const char *why, const char *detail);

#endif
