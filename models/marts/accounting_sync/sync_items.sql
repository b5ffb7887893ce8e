-- SPEC §5.3 accounting sync: the Orb items invoice and credit-memo lines point at, with their external
-- connections (a JSON list of {external_connection_name, external_entity_id}), from which QuickBooks and
-- NetSuite take the provider item of a line when the settings' item_map does not name one.
with items as (

    select * from {{ ref('stg_orb__item') }}

),

final as (

    select
        item_id,
        name as item_name,
        external_connections,
        is_deleted
    from items

)

select * from final
