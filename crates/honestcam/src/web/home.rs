//! `/`: every property of the data dir at a glance (counts by status, overdue, due
//! within 14 days), the most urgent first, each one click from its compliance page.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::auth::{Caller, SignedIn};
use super::compliance::{StatusCount, status_counts};
use super::{AppError, AppState};
use crate::domain::urgency::Summary;

/// One property's line.
struct PropertyRow {
    slug: String,
    name: String,
    /// It could not be read (logged); only its slug is shown.
    error: bool,
    total: usize,
    counts: Vec<StatusCount>,
    overdue: usize,
    due_soon: usize,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Page {
    signed_in: SignedIn,
    rows: Vec<PropertyRow>,
}

/// Properties with the most overdue actions first, then the most due soon, then by
/// name; those that cannot be read last.
fn order(rows: &mut [PropertyRow]) {
    rows.sort_by(|a, b| {
        (
            a.error,
            std::cmp::Reverse(a.overdue),
            std::cmp::Reverse(a.due_soon),
        )
            .cmp(&(
                b.error,
                std::cmp::Reverse(b.overdue),
                std::cmp::Reverse(b.due_soon),
            ))
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.slug.cmp(&b.slug))
    });
}

pub async fn page(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Html<String>, AppError> {
    let today = state.today();
    let mut rows = state
        .run(move |storage, snapshots| {
            let slugs = storage
                .data()
                .properties()
                .map_err(|e| AppError::internal(format!("listing the data dir: {e}")))?;
            let mut rows = Vec::with_capacity(slugs.len());
            for slug in slugs {
                let current = storage
                    .read(&slug)
                    .and_then(|store| snapshots.current(&store));
                rows.push(match current {
                    Ok((baseline, actions)) => {
                        let summary = Summary::of(actions.iter(), today);
                        PropertyRow {
                            slug: slug.to_string(),
                            name: baseline.property.name.clone(),
                            error: false,
                            total: summary.total,
                            counts: status_counts(&summary),
                            overdue: summary.overdue,
                            due_soon: summary.due_soon,
                        }
                    }
                    Err(e) => {
                        tracing::warn!("property {slug} cannot be shown on the home page: {e}");
                        PropertyRow {
                            name: slug.to_string(),
                            slug: slug.to_string(),
                            error: true,
                            total: 0,
                            counts: Vec::new(),
                            overdue: 0,
                            due_soon: 0,
                        }
                    }
                });
            }
            Ok(rows)
        })
        .await?;
    order(&mut rows);
    let page = Page {
        signed_in: SignedIn::new(&caller, state.auth()),
        rows,
    };
    Ok(Html(
        page.render()
            .map_err(|e| AppError::internal(e.to_string()))?,
    ))
}
