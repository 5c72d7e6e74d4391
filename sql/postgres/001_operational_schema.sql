-- FineFinance operational source. Applied once by finefinance_platform.source.migrations,
-- which records the version in public.schema_migrations: never edit an applied file, add a new one.

create schema if not exists crm;
create schema if not exists banking;
create schema if not exists product;

create table crm.advisor (
    advisor_id  uuid primary key,
    firstname   text not null,
    surname     text not null,
    city        text,
    created_at  date not null,
    -- every table carries updated_at so ingestion can be incremental
    updated_at  timestamptz not null default now()
);

create table crm.customer (
    customer_id   uuid primary key,
    firstname     text not null,
    surname       text not null,
    email         text not null unique,
    signup_date   date not null,
    -- the source's own (French) spelling; the warehouse shows Bronze/Gold/Diamond
    profile_level text not null check (profile_level in ('bronze', 'gold', 'diamant')),
    advisor_id    uuid references crm.advisor (advisor_id),
    updated_at    timestamptz not null default now()
);

create table banking.account (
    account_id   uuid primary key,
    customer_id  uuid not null references crm.customer (customer_id),
    account_type text not null check (account_type in ('normal', 'LA', 'LJ')),
    currency     char(3) not null default 'EUR',
    open_date    date not null,
    closed_date  date check (closed_date is null or closed_date >= open_date),
    updated_at   timestamptz not null default now()
);

create table banking.transaction (
    transaction_id      uuid primary key,
    -- NULL on one side means an outside party, named in counterparty
    sender_account_id   uuid references banking.account (account_id),
    receiver_account_id uuid references banking.account (account_id),
    counterparty        text,
    transaction_date    timestamptz not null,
    amount              numeric(12, 2) not null check (amount > 0),
    currency            char(3) not null default 'EUR',
    description         text,
    category            text not null check (category in (
        'salary', 'subscription', 'card_payment', 'withdrawal', 'transfer',
        'loan_payment', 'reimbursement', 'deposit')),
    status              text not null check (status in ('pending', 'completed', 'failed')),
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    check (sender_account_id is not null or receiver_account_id is not null),
    check (sender_account_id is distinct from receiver_account_id)
);

create table banking.balance (
    account_id   uuid not null references banking.account (account_id),
    balance_date date not null,
    balance      numeric(14, 2) not null,
    currency     char(3) not null default 'EUR',
    updated_at   timestamptz not null default now(),
    primary key (account_id, balance_date)
);

create table product.loan (
    loan_id       uuid primary key,
    customer_id   uuid not null references crm.customer (customer_id),
    amount        numeric(12, 2) not null check (amount > 0),
    interest_rate numeric(6, 5) not null check (interest_rate >= 0 and interest_rate < 1),
    start_date    date not null,
    end_date      date check (end_date is null or end_date >= start_date),
    status        text not null check (status in ('active', 'closed')),
    updated_at    timestamptz not null default now()
);

create table product.investment (
    investment_id uuid primary key,
    customer_id   uuid not null references crm.customer (customer_id),
    product_name  text not null check (product_name in ('PEA', 'life insurance')),
    amount        numeric(14, 2) not null check (amount > 0),
    opened_at     date not null,
    closed_at     date check (closed_at is null or closed_at >= opened_at),
    status        text not null check (status in ('active', 'closed')),
    updated_at    timestamptz not null default now()
);

create table product.credit_card (
    card_id      uuid primary key,
    customer_id  uuid not null references crm.customer (customer_id),
    amount_limit numeric(12, 2) not null check (amount_limit > 0),
    fee          numeric(8, 2) not null check (fee >= 0),
    start_date   date not null,
    end_date     date check (end_date is null or end_date >= start_date),
    status       text not null check (status in ('active', 'expired')),
    updated_at   timestamptz not null default now()
);

-- incremental ingestion reads by updated_at; month windows read by transaction_date
create index advisor_updated_at_idx on crm.advisor (updated_at);
create index customer_updated_at_idx on crm.customer (updated_at);
create index customer_advisor_idx on crm.customer (advisor_id);
create index account_updated_at_idx on banking.account (updated_at);
create index account_customer_idx on banking.account (customer_id);
create index transaction_updated_at_idx on banking.transaction (updated_at);
create index transaction_date_idx on banking.transaction (transaction_date);
create index transaction_sender_idx on banking.transaction (sender_account_id);
create index transaction_receiver_idx on banking.transaction (receiver_account_id);
create index balance_updated_at_idx on banking.balance (updated_at);
create index loan_updated_at_idx on product.loan (updated_at);
create index loan_customer_idx on product.loan (customer_id);
create index investment_updated_at_idx on product.investment (updated_at);
create index investment_customer_idx on product.investment (customer_id);
create index credit_card_updated_at_idx on product.credit_card (updated_at);
create index credit_card_customer_idx on product.credit_card (customer_id);
