//! The study question bank: commercial-lease CAM (common area maintenance) charges.
//!
//! The bank is data compiled into the binary, so it cannot fail to load. Question ids
//! are stable: progress blobs refer to them, so an id is never reused for a different
//! question (retire a question by removing it; old answers to it are then ignored).

use serde::Serialize;

/// What a question is about; the quiz reports weak topics by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// What CAM is and which costs it covers.
    Basics,
    /// How a tenant's share of the pool is computed.
    ProRataShare,
    /// Adjusting variable costs to an assumed occupancy.
    GrossUp,
    /// Limits on year-over-year increases.
    Caps,
    /// Costs the landlord may not pass through.
    Exclusions,
    /// Estimates, year-end statements and true-ups.
    Reconciliation,
    /// The tenant's right to inspect the landlord's records.
    AuditRights,
}

impl Topic {
    /// Every topic, in display order.
    pub const ALL: [Topic; 7] = [
        Topic::Basics,
        Topic::ProRataShare,
        Topic::GrossUp,
        Topic::Caps,
        Topic::Exclusions,
        Topic::Reconciliation,
        Topic::AuditRights,
    ];

    /// A human label.
    pub fn label(self) -> &'static str {
        match self {
            Topic::Basics => "CAM basics",
            Topic::ProRataShare => "Pro-rata share",
            Topic::GrossUp => "Gross-up",
            Topic::Caps => "Caps on increases",
            Topic::Exclusions => "Exclusions",
            Topic::Reconciliation => "Reconciliation",
            Topic::AuditRights => "Audit rights",
        }
    }
}

/// One multiple-choice question.
#[derive(Debug, Clone, Serialize)]
pub struct Question {
    /// Stable id, referenced by progress blobs.
    pub id: &'static str,
    /// What it tests.
    pub topic: Topic,
    /// The question text.
    pub prompt: &'static str,
    /// The choices, shown in this order.
    pub choices: &'static [&'static str],
    /// Index into `choices` of the right answer.
    pub answer: usize,
    /// Why the right answer is right, shown after answering.
    pub explanation: &'static str,
}

/// Every question, in the order the quiz asks them.
pub static QUESTIONS: &[Question] = &[
    Question {
        id: "cam-basics-1",
        topic: Topic::Basics,
        prompt: "In a commercial lease, what do CAM charges pay for?",
        choices: &[
            "The tenant's own utility meters",
            "Operating and maintaining areas shared by all tenants, such as lobbies, parking and landscaping",
            "The landlord's mortgage payments",
            "Improvements inside the tenant's premises",
        ],
        answer: 1,
        explanation: "CAM covers the cost of running the common areas every tenant uses; the tenant's own space and the landlord's financing are separate.",
    },
    Question {
        id: "cam-basics-2",
        topic: Topic::Basics,
        prompt: "Under a triple-net (NNN) lease, who usually bears CAM, property taxes and building insurance?",
        choices: &[
            "The landlord alone",
            "The tenant, in addition to base rent",
            "The municipality",
            "Nobody: they are included in base rent",
        ],
        answer: 1,
        explanation: "A triple-net lease passes the three 'nets' (taxes, insurance and maintenance) through to the tenant on top of base rent.",
    },
    Question {
        id: "cam-basics-3",
        topic: Topic::Basics,
        prompt: "Which of these is a typical CAM expense?",
        choices: &[
            "Snow removal from the shared parking lot",
            "Leasing commissions for a new tenant",
            "Repainting one tenant's storefront at its request",
            "The landlord's income tax",
        ],
        answer: 0,
        explanation: "Snow removal in shared areas benefits all tenants; commissions, one tenant's work and the landlord's income tax are not common-area costs.",
    },
    Question {
        id: "cam-basics-4",
        topic: Topic::Basics,
        prompt: "Where should a tenant look first to learn which costs may be charged as CAM?",
        choices: &[
            "The landlord's website",
            "Local custom",
            "The lease's definition of operating expenses or CAM",
            "The previous tenant's invoices",
        ],
        answer: 2,
        explanation: "The lease controls: its definition of CAM or operating expenses, with its inclusions and exclusions, decides what may be charged.",
    },
    Question {
        id: "cam-share-1",
        topic: Topic::ProRataShare,
        prompt: "A tenant leases 5,000 sq ft in a 50,000 sq ft center. With a plain pro-rata clause, what is its share of CAM?",
        choices: &["5%", "10%", "20%", "50%"],
        answer: 1,
        explanation: "Pro-rata share is the tenant's area divided by the denominator area: 5,000 / 50,000 = 10%.",
    },
    Question {
        id: "cam-share-2",
        topic: Topic::ProRataShare,
        prompt: "Why do tenants negotiate for the denominator to be the total leasable area rather than the leased (occupied) area?",
        choices: &[
            "It makes the tenant's share larger",
            "It keeps the landlord, not the tenants, paying for vacant space",
            "It is required by accounting standards",
            "It has no effect on the share",
        ],
        answer: 1,
        explanation: "With leasable area as the denominator, vacancies do not raise each tenant's percentage: the landlord absorbs the vacant units' share.",
    },
    Question {
        id: "cam-share-3",
        topic: Topic::ProRataShare,
        prompt: "Total CAM for the year is $200,000 and a tenant's share is 7.5%. What does it owe for the year?",
        choices: &["$7,500", "$15,000", "$20,000", "$26,667"],
        answer: 1,
        explanation: "$200,000 x 7.5% = $15,000.",
    },
    Question {
        id: "cam-share-4",
        topic: Topic::ProRataShare,
        prompt: "An anchor tenant pays a fixed CAM amount and is excluded from the pool. What often happens to the other tenants' shares?",
        choices: &[
            "They fall, because the anchor pays more",
            "They rise, because the anchor's area leaves the denominator while costs stay in the pool",
            "Nothing changes",
            "They are capped automatically",
        ],
        answer: 1,
        explanation: "Excluding a large tenant's area from the denominator shifts more of the remaining costs onto the smaller tenants unless the lease prevents it.",
    },
    Question {
        id: "cam-grossup-1",
        topic: Topic::GrossUp,
        prompt: "What does a gross-up clause do?",
        choices: &[
            "Adds the landlord's profit margin to CAM",
            "Adjusts variable operating costs to what they would be at an assumed occupancy, e.g. 95%",
            "Doubles CAM in the first lease year",
            "Converts a net lease into a gross lease",
        ],
        answer: 1,
        explanation: "Gross-up restates costs that vary with occupancy as if the building were at a stated occupancy, so the base year and later years compare fairly.",
    },
    Question {
        id: "cam-grossup-2",
        topic: Topic::GrossUp,
        prompt: "Which cost should normally be grossed up?",
        choices: &[
            "Janitorial service that varies with occupied space",
            "The building's property insurance premium",
            "A fixed annual landscaping contract",
            "Real estate taxes",
        ],
        answer: 0,
        explanation: "Only costs that change with occupancy, such as janitorial or some utilities, are grossed up; fixed costs stay as they are.",
    },
    Question {
        id: "cam-grossup-3",
        topic: Topic::GrossUp,
        prompt: "In a lease with a base year, why does a tenant want the base year grossed up too?",
        choices: &[
            "So a low-occupancy base year does not make later increases look larger than they are",
            "To lower the landlord's costs",
            "Gross-up only applies to the base year",
            "It has no effect with a base year",
        ],
        answer: 0,
        explanation: "If the base year was at low occupancy its variable costs are small; without grossing it up, normal lease-up shows as an 'increase' the tenant pays for.",
    },
    Question {
        id: "cam-caps-1",
        topic: Topic::Caps,
        prompt: "What is a cap on controllable CAM?",
        choices: &[
            "A ceiling on how much certain CAM costs may rise from year to year",
            "A minimum the tenant always pays",
            "A limit on the number of common areas",
            "A cap on base rent",
        ],
        answer: 0,
        explanation: "A CAM cap limits year-over-year growth of the capped (usually controllable) costs, e.g. to 5% a year.",
    },
    Question {
        id: "cam-caps-2",
        topic: Topic::Caps,
        prompt: "Which costs are usually left out of a controllable-CAM cap as 'uncontrollable'?",
        choices: &[
            "Management fees and landscaping",
            "Real estate taxes, insurance and utilities",
            "Repairs and janitorial service",
            "Security patrols",
        ],
        answer: 1,
        explanation: "Taxes, insurance and utility rates are outside the landlord's control, so leases commonly exclude them from the cap.",
    },
    Question {
        id: "cam-caps-3",
        topic: Topic::Caps,
        prompt: "Controllable CAM was $10.00/sq ft in year 1 under a 5% non-cumulative cap. What is the most that can be charged in year 2?",
        choices: &["$10.00", "$10.25", "$10.50", "$11.00"],
        answer: 2,
        explanation: "A 5% cap allows $10.00 x 1.05 = $10.50 in year 2.",
    },
    Question {
        id: "cam-caps-4",
        topic: Topic::Caps,
        prompt: "How does a cumulative (compounding) cap differ from a non-cumulative one?",
        choices: &[
            "It lets unused increases from earlier years be carried forward",
            "It forbids any increase",
            "It applies only to taxes",
            "There is no difference",
        ],
        answer: 0,
        explanation: "Under a cumulative cap the landlord may 'bank' increases it did not use and charge them later, as long as the total stays under the compounded ceiling.",
    },
    Question {
        id: "cam-excl-1",
        topic: Topic::Exclusions,
        prompt: "Which cost is commonly excluded from CAM?",
        choices: &[
            "Cleaning the shared restrooms",
            "Capital expenditures for a new roof, except as amortised where the lease allows",
            "Common-area lighting",
            "Parking lot sweeping",
        ],
        answer: 1,
        explanation: "Capital items are usually excluded or only passed through amortised over their useful life, and only where the lease says so.",
    },
    Question {
        id: "cam-excl-2",
        topic: Topic::Exclusions,
        prompt: "Should a tenant pay, through CAM, the cost of repairing damage covered by the landlord's insurance?",
        choices: &[
            "Yes, always",
            "No: costs reimbursed by insurance are normally excluded",
            "Only if the tenant caused it",
            "Only in the first lease year",
        ],
        answer: 1,
        explanation: "Costs the landlord recovers from insurance (or others) are commonly excluded, so the landlord is not paid twice.",
    },
    Question {
        id: "cam-excl-3",
        topic: Topic::Exclusions,
        prompt: "A lease allows a 15% administrative fee on CAM. What should a tenant check?",
        choices: &[
            "That the fee is not also charged on taxes, insurance and the management fee itself",
            "Nothing: administrative fees cannot be negotiated",
            "That the fee is paid in cash",
            "That the fee is at least 20%",
        ],
        answer: 0,
        explanation: "Tenants often limit the base of the administrative fee so it is not charged on uncontrollable costs or compounded on other fees.",
    },
    Question {
        id: "cam-excl-4",
        topic: Topic::Exclusions,
        prompt: "Which of these is a landlord's own cost that should not appear in CAM?",
        choices: &[
            "Legal fees for disputes with a particular tenant",
            "Trash removal from common areas",
            "Elevator maintenance",
            "Common-area HVAC service",
        ],
        answer: 0,
        explanation: "Costs of disputes with or leasing to particular tenants benefit the landlord, not the common areas, and are usually excluded.",
    },
    Question {
        id: "cam-recon-1",
        topic: Topic::Reconciliation,
        prompt: "How are CAM charges usually billed during the year?",
        choices: &[
            "Monthly estimates, reconciled to actual costs after year end",
            "One lump sum at lease signing",
            "Only when the tenant asks",
            "Daily, based on foot traffic",
        ],
        answer: 0,
        explanation: "Tenants pay monthly estimates; after year end the landlord compares them with actual costs and bills or credits the difference.",
    },
    Question {
        id: "cam-recon-2",
        topic: Topic::Reconciliation,
        prompt: "A tenant paid $12,000 in CAM estimates; its share of actual costs is $10,800. What should the reconciliation show?",
        choices: &[
            "The tenant owes $1,200",
            "The tenant is owed a $1,200 credit or refund",
            "Nothing, estimates are final",
            "The tenant owes $10,800 more",
        ],
        answer: 1,
        explanation: "The tenant overpaid by $12,000 - $10,800 = $1,200, which is credited or refunded.",
    },
    Question {
        id: "cam-recon-3",
        topic: Topic::Reconciliation,
        prompt: "Why do tenants ask for a deadline on the landlord's year-end reconciliation statement?",
        choices: &[
            "So the landlord cannot bill surprise charges for years long past",
            "To shorten the lease",
            "Because estimates are illegal",
            "To avoid paying taxes",
        ],
        answer: 0,
        explanation: "A deadline (e.g. 120 days after year end, with later charges waived) protects the tenant from old, unexpected bills.",
    },
    Question {
        id: "cam-audit-1",
        topic: Topic::AuditRights,
        prompt: "What does an audit right in a lease let the tenant do?",
        choices: &[
            "Inspect the landlord's books supporting CAM charges",
            "Audit other tenants' sales",
            "Withhold all rent indefinitely",
            "Replace the property manager",
        ],
        answer: 0,
        explanation: "An audit clause lets the tenant, or its auditor, examine the records behind the CAM charges within a set time.",
    },
    Question {
        id: "cam-audit-2",
        topic: Topic::AuditRights,
        prompt: "An audit finds CAM overcharged by more than a stated threshold (say 3% or 5%). What do leases commonly provide?",
        choices: &[
            "The landlord refunds the overcharge and pays the cost of the audit",
            "The tenant pays the landlord's legal fees",
            "The overcharge is forgiven",
            "The lease ends automatically",
        ],
        answer: 0,
        explanation: "Beyond the threshold the landlord usually refunds the overcharge and reimburses the reasonable cost of the audit.",
    },
    Question {
        id: "cam-audit-3",
        topic: Topic::AuditRights,
        prompt: "A lease gives the tenant 90 days after receiving the reconciliation to dispute it. What happens if the tenant waits a year?",
        choices: &[
            "It may lose the right to challenge that year's charges",
            "The landlord must extend the deadline",
            "The charges are cancelled",
            "The deadline restarts each month",
        ],
        answer: 0,
        explanation: "Review windows are usually strict: after the window the statement is often deemed final and binding.",
    },
];

/// The question with this id.
pub fn find(id: &str) -> Option<&'static Question> {
    QUESTIONS.iter().find(|q| q.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn bank_has_at_least_twenty_well_formed_questions() {
        assert!(QUESTIONS.len() >= 20, "{} questions", QUESTIONS.len());
        let mut ids = HashSet::new();
        for q in QUESTIONS {
            assert!(ids.insert(q.id), "duplicate id {}", q.id);
            assert!(q.choices.len() >= 2, "{} has too few choices", q.id);
            assert!(q.answer < q.choices.len(), "{} answer out of range", q.id);
            assert!(
                !q.prompt.is_empty() && !q.explanation.is_empty(),
                "{}",
                q.id
            );
            let distinct: HashSet<_> = q.choices.iter().collect();
            assert_eq!(distinct.len(), q.choices.len(), "{} repeats a choice", q.id);
        }
    }

    #[test]
    fn every_topic_has_questions() {
        for topic in Topic::ALL {
            let n = QUESTIONS.iter().filter(|q| q.topic == topic).count();
            assert!(n >= 2, "{topic:?} has {n} questions");
        }
    }

    #[test]
    fn find_looks_up_by_id() {
        assert_eq!(
            find("cam-share-1").map(|q| q.topic),
            Some(Topic::ProRataShare)
        );
        assert!(find("nope").is_none());
    }
}
