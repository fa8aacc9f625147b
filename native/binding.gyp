{
  "targets": [
    {
      "target_name": "strata_sys",
      "sources": ["strata_sys.c", "sha256.c", "tar_writer.c", "tree_fingerprint.c"],
      "libraries": ["-pthread"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    },
    {
      "target_name": "strata-runtime",
      "type": "executable",
      "sources": ["strata_runtime.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["_GNU_SOURCE"]
    },
    {
      "target_name": "strata",
      "type": "executable",
      "sources": ["strata_front.c", "build_memo.c", "edit_replay.c", "sha256.c", "tree_fingerprint.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["_GNU_SOURCE"]
    }
  ]
}
