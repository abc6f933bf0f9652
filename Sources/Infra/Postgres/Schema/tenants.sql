-- Tenants and their tiers; the scan of every tenant for those using given tools.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

CREATE OR REPLACE FUNCTION ams_tenants_using_tools(p_tools text[])
 RETURNS SETOF text
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM set_config('app.catalog_scan', 'on', true);
    RETURN QUERY SELECT DISTINCT a.tenant_id FROM agents a
    WHERE a.deleted_at IS NULL AND EXISTS (
        SELECT 1 FROM jsonb_array_elements(coalesce(a.config -> 'tools', '[]')) t WHERE t ->> 'id' = ANY (p_tools));
    PERFORM set_config('app.catalog_scan', 'off', true);
END
$function$;

DROP POLICY IF EXISTS tenant_isolation ON tenants;
CREATE POLICY tenant_isolation ON tenants
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

DROP POLICY IF EXISTS catalog_scan ON agents;
CREATE POLICY catalog_scan ON agents FOR SELECT
    USING (deleted_at IS NULL AND current_setting('app.catalog_scan', true) = 'on');
