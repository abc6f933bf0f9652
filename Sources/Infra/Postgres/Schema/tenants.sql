-- Tenants and their tiers; the scan of every tenant for those using given tools.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

CREATE OR REPLACE FUNCTION ams_tenants_using_tools(p_tools text[])
 RETURNS SETOF text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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

-- Cross-tenant rows are for the tables' owner only (TO CURRENT_USER names the role installing the policy), in the
-- SECURITY DEFINER functions doing that work: a role of the service that sets the same setting sees nothing more.
DROP POLICY IF EXISTS catalog_scan ON agents;
CREATE POLICY catalog_scan ON agents FOR SELECT TO CURRENT_USER
    USING (deleted_at IS NULL AND current_setting('app.catalog_scan', true) = 'on');
