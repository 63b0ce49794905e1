-- trigger overhead: identical tables, one registered, 100K rows each.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS t_unreg, t_reg CASCADE;
CREATE TABLE t_unreg (id bigserial PRIMARY KEY, user_id text NOT NULL, title text, n int);
CREATE TABLE t_reg (id bigserial PRIMARY KEY, user_id text NOT NULL, title text, n int);
INSERT INTO t_unreg (user_id, title, n) SELECT 'u' || (g % 1000), 'x', 0 FROM generate_series(1, 100000) g;
INSERT INTO t_reg (user_id, title, n) SELECT 'u' || (g % 1000), 'x', 0 FROM generate_series(1, 100000) g;
SELECT mana_sync_enable('t_reg', 'tbench');
VACUUM ANALYZE t_unreg;
VACUUM ANALYZE t_reg;
