-- SPEC §3 "Payment reconciliation": one row per paid invoice (status 'paid', not deleted) and per
-- orb_invoice_id of a succeeded processor payment.
--   orb_amount_paid  = sum of the invoice's succeeded payment attempts, or its amount_due when it has none;
--   processor_amount = sum of succeeded processor payments for it, from minor units (fees ignored);
--   difference       = orb - processor (null where a side is missing);
--   match_status     = matched | amount_mismatch | missing_in_processor | missing_in_orb.
-- With the invoice's number and customer (from the staged invoice, whatever its status) and the customer's name.
with invoices as (

    select * from {{ ref('stg_orb__invoice_metadata') }}

),

attempts as (

    select * from {{ ref('stg_orb__payment_attempt') }}

),

processor_payments as (

    select * from {{ ref('stg_orb__processor_payments') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

customers as (

    select * from {{ ref('stg_orb__customer') }}

),

paid_invoices as (

    select
        invoice_id,
        invoicing_currency as currency,
        amount_due
    from invoices
    where status = 'paid'
      and not is_deleted

),

succeeded_attempts as (

    select
        invoice_id,
        sum(amount) as amount_paid
    from attempts
    where succeeded
      and not is_deleted
    group by invoice_id

),

orb_side as (

    select
        paid_invoices.invoice_id,
        paid_invoices.currency,
        coalesce(succeeded_attempts.amount_paid, paid_invoices.amount_due) as orb_amount_paid
    from paid_invoices
    left join succeeded_attempts
        on paid_invoices.invoice_id = succeeded_attempts.invoice_id

),

processor_side as (

    select
        orb_invoice_id as invoice_id,
        max(currency) as processor_currency,
        sum(amount_minor) as amount_minor,
        count(*) as processor_payment_count
    from processor_payments
    where status = 'succeeded'
      and orb_invoice_id is not null
    group by orb_invoice_id

),

joined as (

    select
        coalesce(orb_side.invoice_id, processor_side.invoice_id) as invoice_id,
        coalesce(orb_side.currency, processor_side.processor_currency) as currency,
        orb_side.orb_amount_paid,
        processor_side.amount_minor,
        processor_side.processor_payment_count,
        orb_side.invoice_id is not null as in_orb,
        processor_side.invoice_id is not null as in_processor
    from orb_side
    full outer join processor_side
        on orb_side.invoice_id = processor_side.invoice_id

),

converted as (

    select
        joined.*,
        case
            when joined.in_processor then {{ from_minor_units('joined.amount_minor', 'currencies.minor_unit') }}
        end as processor_amount
    from joined
    left join currencies
        on joined.currency = currencies.currency_code

),

final as (

    select
        converted.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        customers.name as customer_name,
        converted.currency,
        {{ to_money('converted.orb_amount_paid') }} as orb_amount_paid,
        converted.processor_amount,
        {{ to_money('converted.orb_amount_paid - converted.processor_amount') }} as difference,
        coalesce(converted.processor_payment_count, 0) as processor_payment_count,
        case
            when not converted.in_processor then 'missing_in_processor'
            when not converted.in_orb then 'missing_in_orb'
            when converted.orb_amount_paid = converted.processor_amount then 'matched'
            else 'amount_mismatch'
        end as match_status
    from converted
    left join invoices
        on converted.invoice_id = invoices.invoice_id
    left join customers
        on invoices.customer_id = customers.customer_id

)

select * from final
