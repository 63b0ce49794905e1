/*
 * names.h
 *     Client field names (camelCase) and column names (snake_case).  Pure C.
 */
#ifndef MANA_NAMES_H
#define MANA_NAMES_H

#include <stddef.h>

/*
 * "is_completed" -> "isCompleted": an '_' followed by an ASCII lowercase
 * letter or digit becomes that character upper-cased (digits unchanged, the
 * '_' dropped); leading, trailing and doubled '_' are kept as they are.
 * out needs len + 1 bytes.  Returns the output length.
 */
extern size_t mana_snake_to_camel(const char *in, size_t len, char *out);

/*
 * "isCompleted" -> "is_completed": each ASCII uppercase letter becomes '_'
 * and its lowercase, except at position 0 where it is only lower-cased.
 * out needs 2 * len + 1 bytes.  Returns the output length.
 */
extern size_t mana_camel_to_snake(const char *in, size_t len, char *out);

#endif
