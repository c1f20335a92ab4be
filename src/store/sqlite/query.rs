//! The statements: sqlx's shape (`query(..).bind(..).fetch_all(..)`) over rusqlite.

use super::pool::{Pool, COLUMN_NAMES_KEPT};
use anyhow::Result;
use rusqlite::types::{FromSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ToSql};
use std::marker::PhantomData;
use std::sync::Arc;

/// Where a statement runs: on the caller's thread, on a connection inside a transaction, or on
/// a pooled connection (the writer connection, for [`Writes`]) on a blocking thread.
pub enum Exec<'a> {
    Conn(&'a mut Connection),
    Pool(&'a Pool),
    Writer(&'a Pool),
}

/// A statement that writes outside a transaction, run on the writer connection by a caller
/// holding the write turn (see [`Pool::writer`]).
pub struct Writes<'a>(pub &'a Pool);

impl<'a> From<Writes<'a>> for Exec<'a> {
    fn from(writes: Writes<'a>) -> Self {
        Exec::Writer(writes.0)
    }
}

impl<'a> From<&'a mut Connection> for Exec<'a> {
    fn from(conn: &'a mut Connection) -> Self {
        Exec::Conn(conn)
    }
}

impl<'a> From<&'a Pool> for Exec<'a> {
    fn from(pool: &'a Pool) -> Self {
        Exec::Pool(pool)
    }
}

impl Exec<'_> {
    async fn run<R: Send + 'static>(
        self,
        job: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let conn = match self {
            Exec::Conn(conn) => return job(conn),
            Exec::Pool(pool) => pool.take().await?,
            Exec::Writer(pool) => pool.writer().await?,
        };
        tokio::task::spawn_blocking(move || {
            let before = conn.total_changes();
            let done = job(&conn);
            // It may have written (a claim, an outcome).
            conn.pool.wrote(conn.total_changes() - before);
            done
        })
        .await?
    }
}

/// A statement and its arguments, for `$1`, `$2`… placeholders.
pub(super) struct Statement {
    /// The SQL with `$N` spelled `?N`, SQLite's own name for the N-th argument.
    sql: String,
    args: Vec<Value>,
    /// A value that could not be turned into an SQLite one; reported when run.
    error: Option<rusqlite::Error>,
}

impl Statement {
    fn new(sql: &str) -> Self {
        Self {
            // Our SQL has no `$` but in placeholders (no dollar-quoting, no `$` in literals).
            sql: sql.replace('$', "?"),
            args: Vec::new(),
            error: None,
        }
    }

    fn bind(&mut self, value: impl ToSql) {
        match value.to_sql() {
            Ok(ToSqlOutput::Borrowed(v)) => self.args.push(v.into()),
            Ok(ToSqlOutput::Owned(v)) => self.args.push(v),
            Ok(_) => self.args.push(Value::Null),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    fn prepare<'c>(&self, conn: &'c Connection) -> Result<rusqlite::CachedStatement<'c>> {
        let mut stmt = conn.prepare_cached(&self.sql)?;
        // `?N` is the N-th argument wherever it appears, as `$N` is in PostgreSQL.
        for (i, value) in self.args.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, value)?;
        }
        Ok(stmt)
    }

    async fn rows(self, exec: Exec<'_>) -> Result<Vec<Row>> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        exec.run(move |conn| {
            let mut stmt = self.prepare(conn)?;
            let columns = column_names(&self.sql, &stmt);
            let width = columns.len();
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let values = (0..width)
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<rusqlite::Result<_>>()?;
                out.push(Row {
                    columns: columns.clone(),
                    values,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn execute(self, exec: Exec<'_>) -> Result<Done> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        exec.run(move |conn| Ok(Done(self.prepare(conn)?.raw_execute()? as u64)))
            .await
    }
}

/// The column names of `stmt` (whose SQL is `sql`), shared by its rows. Kept per thread from
/// one run of a statement to the next: a conversation's row has 22 columns, and copying their
/// names for every row cost more than SQLite took to find it.
pub(super) fn column_names(sql: &str, stmt: &rusqlite::Statement<'_>) -> Arc<[String]> {
    thread_local! {
        static NAMES: std::cell::RefCell<std::collections::HashMap<String, Arc<[String]>>> =
            Default::default();
    }
    let names = stmt.column_names();
    NAMES.with_borrow_mut(|known| {
        // Checked each time, not trusted: the same SQL can name other columns in another
        // database (`SELECT *` before and after a migration).
        if let Some(columns) = known.get(sql) {
            if columns.iter().map(String::as_str).eq(names.iter().copied()) {
                return columns.clone();
            }
        }
        let columns: Arc<[String]> = names.into_iter().map(String::from).collect();
        // Built lists (`IN ($2, $3, …)`) make many statements: the map stays small.
        if known.len() >= COLUMN_NAMES_KEPT {
            known.clear();
        }
        known.insert(sql.to_owned(), columns.clone());
        columns
    })
}

/// A statement whose rows are read as [`Row`]s.
pub struct Query(Statement);

/// A statement whose rows are read as their first column.
pub struct Scalar<T>(Statement, PhantomData<fn() -> T>);

pub fn query(sql: &str) -> Query {
    Query(Statement::new(sql))
}

pub fn query_scalar<T>(sql: &str) -> Scalar<T> {
    Scalar(Statement::new(sql), PhantomData)
}

impl Query {
    pub fn bind(mut self, value: impl ToSql) -> Self {
        self.0.bind(value);
        self
    }

    pub async fn execute<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Done> {
        self.0.execute(exec.into()).await
    }

    pub async fn fetch_all<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Vec<Row>> {
        self.0.rows(exec.into()).await
    }

    pub async fn fetch_optional<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Option<Row>> {
        Ok(self.0.rows(exec.into()).await?.into_iter().next())
    }

    pub async fn fetch_one<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Row> {
        self.fetch_optional(exec)
            .await?
            .ok_or_else(|| rusqlite::Error::QueryReturnedNoRows.into())
    }
}

impl<T: FromSql> Scalar<T> {
    pub fn bind(mut self, value: impl ToSql) -> Self {
        self.0.bind(value);
        self
    }

    pub async fn fetch_all<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Vec<T>> {
        self.0
            .rows(exec.into())
            .await?
            .iter()
            .map(|row| row.try_get(0usize))
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    pub async fn fetch_optional<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Option<T>> {
        Ok(self.fetch_all(exec).await?.into_iter().next())
    }

    pub async fn fetch_one<'a>(self, exec: impl Into<Exec<'a>>) -> Result<T> {
        self.fetch_optional(exec)
            .await?
            .ok_or_else(|| rusqlite::Error::QueryReturnedNoRows.into())
    }
}

/// What a statement without rows did.
pub struct Done(u64);

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.0
    }
}

/// One row, its values copied out of SQLite.
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

/// A column by position or by name.
pub trait ColumnIndex {
    fn position(&self, columns: &[String]) -> Option<usize>;
}

impl ColumnIndex for usize {
    fn position(&self, columns: &[String]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl ColumnIndex for &str {
    fn position(&self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
}

impl Row {
    pub fn try_get<T: FromSql, I: ColumnIndex>(&self, index: I) -> rusqlite::Result<T> {
        let i = index
            .position(&self.columns)
            .ok_or(rusqlite::Error::InvalidColumnIndex(self.values.len()))?;
        T::column_result(ValueRef::from(&self.values[i]))
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, self.type_of(i), e.into()))
    }

    fn type_of(&self, i: usize) -> rusqlite::types::Type {
        ValueRef::from(&self.values[i]).data_type()
    }
}
