#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

#include <hiredis/hiredis.h>

/// The reader's error text: a fixed-size array, which Swift imports as a tuple.
static inline const char *chiredis_reader_error(const redisReader *reader) {
    return reader->errstr;
}

#endif
