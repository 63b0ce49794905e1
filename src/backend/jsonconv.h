/*
 * jsonconv.h
 *     Values between column types and the wire format's JSON (jsonconv.c).
 */
#ifndef MANA_JSONCONV_H
#define MANA_JSONCONV_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "tablemeta.h"

extern void mana_json_datum(StringInfo out, Datum value, bool isnull,
							Oid typid);
extern void mana_json_col(StringInfo out, Datum value, bool isnull,
						  mana_column *col);
extern void mana_json_string(StringInfo out, const char *s);
extern void mana_json_ts(StringInfo out, int64 ms);
extern Datum mana_json_to_datum(mana_table *t, mana_column *col, JsonbValue *v,
								bool *isnull, int change_index,
								const char *field);
extern char *mana_jsonb_value_text(JsonbValue *v);
extern Jsonb *mana_json_finish(StringInfo buf);
extern Jsonb *mana_jsonb_set_pairs(Jsonb *base, int n, char **keys, JsonbValue *values);
extern void mana_jbv_ts(JsonbValue *v, int64 ms);

#endif
