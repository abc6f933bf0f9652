-- Templates: a tenant's own templates and where they were used.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

CREATE OR REPLACE FUNCTION ams_template_event()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    INSERT INTO outbox (tenant_id, event, data)
    VALUES (NEW.tenant_id, CASE TG_OP WHEN 'INSERT' THEN 'agent_template_created' ELSE 'template_updated' END,
        jsonb_build_object('template_id', NEW.id, 'template_name', NEW.name, 'category', NEW.category, 'version', NEW.version));
    RETURN NULL;
END
$function$;

CREATE OR REPLACE TRIGGER agent_templates_event AFTER INSERT OR UPDATE ON agent_templates FOR EACH ROW EXECUTE FUNCTION ams_template_event();

DROP POLICY IF EXISTS tenant_isolation ON agent_templates;
CREATE POLICY tenant_isolation ON agent_templates
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

DROP POLICY IF EXISTS tenant_isolation ON template_usage;
CREATE POLICY tenant_isolation ON template_usage
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
