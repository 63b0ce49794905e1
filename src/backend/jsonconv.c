/*
 * jsonconv.c
 *     Values between the wire's JSON and column types.
 *
 * Outgoing values are written as JSON text: timestamps as JavaScript's
 * toISOString() writes them (UTC, milliseconds, 'Z') whatever TimeZone and
 * DateStyle say, dates as YYYY-MM-DD, arrays as JSON arrays, json/jsonb
 * embedded.  The same text is the canonical form the LWW tie-break compares,
 * so it must not depend on session settings.
 *
 * Incoming values go through the column type's input function, so domains,
 * typmods and CHECKs of the type apply; conversion errors are re-raised with
 * the change index and field in errdetail.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "core/iso8601.h"
#include "jsonconv.h"
#include "request.h"

void
mana_json_string(StringInfo out, const char *s)
{
	escape_json(out, s);
}

void
mana_json_ts(StringInfo out, int64 ms)
{
	char		buf[MANA_ISO_BUFLEN];

	if (mana_iso8601_format(ms, buf) < 0)
		appendStringInfoString(out, "null");
	else
	{
		appendStringInfoChar(out, '"');
		appendStringInfoString(out, buf);
		appendStringInfoChar(out, '"');
	}
}

static bool
is_json_number(const char *s)
{
	/* numeric_out / float8out write NaN and Infinity in words */
	return !(strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0);
}

static void json_array(StringInfo out, ArrayType *arr, Oid elemtype);

void
mana_json_datum(StringInfo out, Datum value, bool isnull, Oid typid)
{
	Oid			base;
	Oid			outfn;
	bool		isvarlena;
	char	   *s;

	if (isnull)
	{
		appendStringInfoString(out, "null");
		return;
	}
	base = getBaseType(typid);
	switch (base)
	{
		case BOOLOID:
			appendStringInfoString(out, DatumGetBool(value) ? "true" : "false");
			return;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			getTypeOutputInfo(base, &outfn, &isvarlena);
			s = OidOutputFunctionCall(outfn, value);
			if (is_json_number(s))
				appendStringInfoString(out, s);
			else
				escape_json(out, s);
			return;
		case JSONBOID:
			{
				Jsonb	   *jb = DatumGetJsonbP(value);

				(void) JsonbToCString(out, &jb->root, VARSIZE(jb));
				return;
			}
		case JSONOID:
			appendStringInfoString(out, TextDatumGetCString(value));
			return;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			{
				TimestampTz ts = DatumGetTimestampTz(value);
				int64		ms;

				if (!TIMESTAMP_NOT_FINITE(ts))
				{
					ms = mana_ts_to_ms(ts);
					if (ms >= MANA_ISO_MIN_MS && ms <= MANA_ISO_MAX_MS)
					{
						mana_json_ts(out, ms);
						return;
					}
				}
				break;
			}
		case DATEOID:
			{
				DateADT		d = DatumGetDateADT(value);
				int			y,
							m,
							day;

				if (!DATE_NOT_FINITE(d))
				{
					j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
					if (y >= 0 && y <= 9999)
					{
						appendStringInfo(out, "\"%04d-%02d-%02d\"", y, m, day);
						return;
					}
				}
				break;
			}
		default:
			{
				Oid			elem = get_element_type(base);

				if (OidIsValid(elem))
				{
					json_array(out, DatumGetArrayTypeP(value), elem);
					return;
				}
				break;
			}
	}
	getTypeOutputInfo(typid, &outfn, &isvarlena);
	escape_json(out, OidOutputFunctionCall(outfn, value));
}

/* mana_json_datum with the column's cached output function */
void
mana_json_col(StringInfo out, Datum value, bool isnull, mana_column *col)
{
	char	   *s;

	if (isnull)
	{
		appendStringInfoString(out, "null");
		return;
	}
	switch (col->basetype)
	{
		case TEXTOID:
		case VARCHAROID:
		case UUIDOID:
			escape_json(out, OutputFunctionCall(&col->outfunc, value));
			return;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			appendStringInfoString(out, OutputFunctionCall(&col->outfunc, value));
			return;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			s = OutputFunctionCall(&col->outfunc, value);
			if (is_json_number(s))
				appendStringInfoString(out, s);
			else
				escape_json(out, s);
			return;
		default:
			mana_json_datum(out, value, false, col->typid);
	}
}

static void
json_array_dim(StringInfo out, int dim, int ndim, int *dims, Datum *elems, bool *nulls,
			   int *pos, Oid elemtype)
{
	int			i;

	appendStringInfoChar(out, '[');
	for (i = 0; i < dims[dim]; i++)
	{
		if (i > 0)
			appendStringInfoChar(out, ',');
		if (dim + 1 < ndim)
			json_array_dim(out, dim + 1, ndim, dims, elems, nulls, pos, elemtype);
		else
		{
			mana_json_datum(out, elems[*pos], nulls[*pos], elemtype);
			(*pos)++;
		}
	}
	appendStringInfoChar(out, ']');
}

static void
json_array(StringInfo out, ArrayType *arr, Oid elemtype)
{
	int16		len;
	bool		byval;
	char		align;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			pos = 0;

	if (ARR_NDIM(arr) == 0)
	{
		appendStringInfoString(out, "[]");
		return;
	}
	get_typlenbyvalalign(elemtype, &len, &byval, &align);
	deconstruct_array(arr, elemtype, len, byval, align, &elems, &nulls, &n);
	json_array_dim(out, 0, ARR_NDIM(arr), ARR_DIMS(arr), elems, nulls, &pos, elemtype);
}

/* JSON text of one JsonbValue (scalar or container) */
char *
mana_jsonb_value_text(JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

Jsonb *
mana_json_finish(StringInfo buf)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data)));
}

/* ---- incoming ---- */

static void
type_mismatch(mana_table *t, mana_column *col, const char *what, int change_index,
			  const char *field)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("field \"%s\" of table \"%s\" expects %s, not %s",
					field, t->collection, col->typname, what),
			 errdetail("Change %d of the changeset sets field \"%s\".", change_index, field)));
}

static const char *
jbv_kind(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString: return "a string";
		case jbvNumeric: return "a number";
		case jbvBool: return "a boolean";
		case jbvNull: return "null";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default: return "a JSON value";
	}
}

/* text form of a scalar for the input function, checking JSON kind vs type */
static char *
scalar_text(mana_table *t, mana_column *col, Oid base, char category, JsonbValue *v,
			int change_index, const char *field)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			if (category != TYPCATEGORY_NUMERIC && category != TYPCATEGORY_STRING)
				type_mismatch(t, col, jbv_kind(v), change_index, field);
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			if (base != BOOLOID && category != TYPCATEGORY_STRING)
				type_mismatch(t, col, jbv_kind(v), change_index, field);
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			type_mismatch(t, col, jbv_kind(v), change_index, field);
	}
	return NULL;				/* not reached */
}

/*
 * Timestamps and dates take only the protocol's ISO-8601 forms: words such as
 * 'now' or 'yesterday' would give every replica a different value.
 */
static bool
strict_temporal(Oid base, const char *s, Datum *out)
{
	int64		ms;

	if (base == TIMESTAMPTZOID || base == TIMESTAMPOID)
	{
		if (mana_iso8601_parse(s, strlen(s), &ms) != 0)
			return false;
		*out = TimestampTzGetDatum(mana_ms_to_ts(ms));
		return true;
	}
	if (base == DATEOID)
	{
		int			i;

		if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
			return false;
		for (i = 0; i < 10; i++)
			if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
				return false;
		return true;			/* date_in checks the calendar */
	}
	return true;
}

typedef struct convert_ctx
{
	mana_table *t;
	int			change_index;
	const char *field;
} convert_ctx;

static Datum
call_input(convert_ctx *cx, FmgrInfo *fn, char *str, Oid ioparam, int32 typmod)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	PG_TRY();
	{
		result = InputFunctionCall(fn, str, ioparam, typmod);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		/*
		 * Re-raise with the change and field named.  The transaction is
		 * aborted by this ERROR anyway, so no subtransaction is needed.
		 */
		MemoryContextSwitchTo(oldcxt);
		ed = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ed->sqlerrcode),
				 errmsg("invalid value for field \"%s\" of table \"%s\": %s",
						cx->field, cx->t->collection, ed->message),
				 errdetail("Change %d of the changeset sets field \"%s\".",
						   cx->change_index, cx->field)));
	}
	PG_END_TRY();
	return result;
}

Datum
mana_json_to_datum(mana_table *t, mana_column *col, JsonbValue *v, bool *isnull,
				   int change_index, const char *field)
{
	convert_ctx cx = {t, change_index, field};
	Oid			base = col->basetype;
	char	   *str;
	Datum		d;

	*isnull = false;
	if (v->type == jbvNull)
	{
		*isnull = true;
		return (Datum) 0;
	}

	if (base == JSONBOID || base == JSONOID)
		return call_input(&cx, &col->infunc, mana_jsonb_value_text(v), col->inioparam, col->typmod);

	if (OidIsValid(col->elemtype))
	{
		/* a JSON array of scalars into a one-dimensional array column */
		JsonbIterator *it;
		JsonbValue	ev;
		JsonbIteratorToken tok;
		Datum	   *elems;
		bool	   *nulls;
		int			n = 0;
		int			cap;
		int			dims[1];
		int			lbs[1] = {1};
		char		ecat = TypeCategory(getBaseType(col->elemtype));
		ArrayType  *arr;

		if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
			type_mismatch(t, col, jbv_kind(v), change_index, field);
		cap = JsonContainerSize(v->val.binary.data);
		elems = palloc(sizeof(Datum) * Max(cap, 1));
		nulls = palloc(sizeof(bool) * Max(cap, 1));
		it = JsonbIteratorInit(v->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &ev, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (ev.type == jbvNull)
			{
				nulls[n] = true;
				elems[n++] = (Datum) 0;
				continue;
			}
			if (ev.type == jbvBinary)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("field \"%s\" of table \"%s\" takes an array of scalars",
								field, t->collection),
						 errdetail("Change %d of the changeset sets field \"%s\".", change_index, field)));
			str = scalar_text(t, col, getBaseType(col->elemtype), ecat, &ev, change_index, field);
			if (!strict_temporal(getBaseType(col->elemtype), str, &d))
				goto bad_temporal;
			nulls[n] = false;
			elems[n++] = call_input(&cx, &col->elem_infunc, str, col->elem_ioparam, -1);
		}
		dims[0] = n;
		arr = construct_md_array(elems, nulls, n > 0 ? 1 : 0, dims, lbs, col->elemtype,
								 col->elem_len, col->elem_byval, col->elem_align);
		if (col->typid != base)
			domain_check(PointerGetDatum(arr), false, col->typid, NULL, NULL);
		return PointerGetDatum(arr);
	}

	str = scalar_text(t, col, base, col->typcategory, v, change_index, field);
	if (!strict_temporal(base, str, &d))
		goto bad_temporal;
	if ((base == TIMESTAMPTZOID || base == TIMESTAMPOID) && col->typid == base && col->typmod < 0)
		return d;
	return call_input(&cx, &col->infunc, str, col->inioparam, col->typmod);

bad_temporal:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
			 errmsg("invalid value for field \"%s\" of table \"%s\": not an ISO-8601 %s",
					field, t->collection,
					(base == DATEOID ||
					 (OidIsValid(col->elemtype) && getBaseType(col->elemtype) == DATEOID)) ? "date" : "timestamp"),
			 errdetail("Change %d of the changeset sets field \"%s\".", change_index, field)));
	return (Datum) 0;			/* not reached */
}

/*
 * base (an object, or NULL) with keys set to values; a key pushed later wins,
 * which is how jsonb resolves duplicate keys.
 */
Jsonb *
mana_jsonb_set_pairs(Jsonb *base, int n, char **keys, JsonbValue *values)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	JsonbValue	v;
	int			i;

	res = pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (base != NULL && JB_ROOT_IS_OBJECT(base))
	{
		JsonbIterator *it = JsonbIteratorInit(&base->root);
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY || tok == WJB_VALUE)
				res = pushJsonbValue(&state, tok, &v);
		}
	}
	for (i = 0; i < n; i++)
	{
		v.type = jbvString;
		v.val.string.val = keys[i];
		v.val.string.len = strlen(keys[i]);
		res = pushJsonbValue(&state, WJB_KEY, &v);
		/* pushJsonbValue unpacks a nested container (jbvBinary) itself */
		res = pushJsonbValue(&state, WJB_VALUE, &values[i]);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* a timestamp as a jbvString JsonbValue (for field_timestamps) */
void
mana_jbv_ts(JsonbValue *v, int64 ms)
{
	char	   *buf = palloc(MANA_ISO_BUFLEN);

	mana_iso8601_format(ms, buf);
	v->type = jbvString;
	v->val.string.val = buf;
	v->val.string.len = strlen(buf);
}
