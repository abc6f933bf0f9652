extension Migration {
    /// The write functions' helpers become PL/pgSQL. A `LANGUAGE sql` function called from PL/pgSQL is
    /// parsed and planned again on every call, which took a fifth of the database's CPU per create;
    /// PL/pgSQL keeps its statements' plans for the session. Same names, arguments and results.
    static let cachedPlans: [String] = [
        """
        CREATE OR REPLACE FUNCTION ams_change_notice(p_tenant text, p_id uuid, p_version integer, p_deleted boolean) RETURNS text
        LANGUAGE plpgsql STABLE AS $$
        BEGIN
            IF p_deleted THEN
                RETURN json_build_object('kind', 'agent', 'tenant_id', p_tenant, 'agent_id', p_id, 'deleted', true)::text;
            END IF;
            RETURN json_build_object('kind', 'agent', 'tenant_id', p_tenant, 'agent_id', p_id,
                'revision', (SELECT revision FROM agents WHERE id = p_id))::text;
        END
        $$
        """,
        """
        CREATE OR REPLACE FUNCTION ams_record(
            p_tenant text, p_id uuid, p_action text, p_by text, p_roles jsonb, p_at timestamptz, p_request_id text,
            p_version integer, p_changes jsonb, p_details jsonb
        ) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO agent_history (tenant_id, agent_id, action, actor, roles, at, request_id, version, changes, details)
            VALUES (p_tenant, p_id, p_action, p_by, p_roles, p_at, p_request_id, p_version, p_changes, p_details);
        END
        $$
        """,
    ]
}
