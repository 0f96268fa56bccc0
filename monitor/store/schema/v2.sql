-- Version 2: an account's fields are kept as a msgpack array of the whole account
-- (monitor/store/account_fields.py) instead of a marshal tuple; every stored row is rewritten.
UPDATE accounts SET fields = account_fields_v2(id, fields);
