-- Shared trigger function: domain tables keep `updated_at` current with
--   CREATE TRIGGER ... BEFORE UPDATE ... EXECUTE FUNCTION touch_updated_at();
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;
