/* kv: a key/value setting with the place it came from, shared by config and Kafka setup so
 * that an error in a pass-through property can name its file:line. */
#ifndef IPAMWATCH_KV_H
#define IPAMWATCH_KV_H

struct config_kv {
    char *key;
    char *value;
    const char *file; /* "path/to/ipamwatch.conf", or "-X" for the command line */
    unsigned line;    /* 1-based line in file; 0 for the command line */
};

#endif
