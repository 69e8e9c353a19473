//! The texts schools and PLGs write: PLG themes, session goals, methods and agreements, and
//! development plans' choices.

/// A PLG theme: name, practice need, learning question, refined question, product.
pub(crate) struct Theme {
    pub(crate) name: &'static str,
    pub(crate) need: &'static str,
    pub(crate) question: &'static str,
    pub(crate) refined: &'static str,
    pub(crate) product: &'static str,
}

pub(crate) const THEMES: [Theme; 9] = [
    Theme {
        name: "Formatief handelen",
        need: "Leerlingen weten niet waar ze staan en wat ze moeten doen om verder te komen.",
        question: "Waarom landt onze feedback niet bij leerlingen?",
        refined: "Waarom gebruiken leerlingen onze feedback niet om hun werk te verbeteren?",
        product: "Feedbackkaart met vijf werkvormen voor formatief handelen",
    },
    Theme {
        name: "Differentiëren in de brugklas",
        need: "De verschillen in de brugklas zijn groot en we bedienen vooral het midden.",
        question: "Waarom lukt het ons niet om sterke en zwakke leerlingen tegelijk uit te dagen?",
        refined: "Waarom vallen we bij verschillen in de klas terug op één uitleg voor iedereen?",
        product: "Handreiking differentiëren met drie lesvoorbeelden per vak",
    },
    Theme {
        name: "Begrijpend lezen bij alle vakken",
        need: "Leerlingen lopen vast op de teksten bij de zaakvakken.",
        question: "Waarom helpt onze leesstrategie niet bij de zaakvakken?",
        refined: "Waarom passen leerlingen leesstrategieën alleen toe bij Nederlands?",
        product: "Vakoverstijgende leesaanpak met gedeelde stappen",
    },
    Theme {
        name: "Motivatie in de bovenbouw",
        need: "Veel leerlingen in de bovenbouw doen het minimale.",
        question: "Waarom haken leerlingen in de bovenbouw af?",
        refined: "Waarom ervaren leerlingen in de bovenbouw onze lessen als weinig zinvol?",
        product: "Lessenserie met keuzeopdrachten en eigen leerdoelen",
    },
    Theme {
        name: "Pesten aanpakken",
        need: "Starters weten niet hoe ze pestgedrag in de klas moeten aanpakken.",
        question: "Waarom werken onze afspraken tegen pesten niet in de klas?",
        refined: "Waarom grijpen starters niet in wanneer ze pestgedrag zien?",
        product: "Stappenplan tegen pesten voor starters",
    },
    Theme {
        name: "Activerende didactiek",
        need: "Lessen zijn vaak docentgestuurd en leerlingen zijn passief.",
        question: "Waarom vallen we terug op uitleggen als we activerend willen lesgeven?",
        refined: "Waarom voelen we ons onzeker als leerlingen zelf aan het werk zijn?",
        product: "Kaartenset met activerende werkvormen per lesfase",
    },
    Theme {
        name: "Startende leraren begeleiden",
        need: "Starters vallen in hun eerste jaren uit.",
        question: "Waarom voelen starters zich bij ons onvoldoende ondersteund?",
        refined: "Waarom vragen starters collega's niet om hulp?",
        product: "Inductieprogramma met maatjes en lesbezoeken",
    },
    Theme {
        name: "Rekenen in de onderbouw",
        need: "Leerlingen kunnen rekenvaardigheden niet toepassen bij andere vakken.",
        question: "Waarom herkennen leerlingen rekenen niet buiten de rekenles?",
        refined: "Waarom gebruiken de vakken verschillende rekenaanpakken?",
        product: "Gedeelde rekenaanpak voor alle vakken in de onderbouw",
    },
    Theme {
        name: "Taalontwikkeling van nieuwkomers",
        need: "Nieuwkomers stromen door maar lopen vast op vaktaal.",
        question: "Waarom beheersen nieuwkomers de vaktaal niet ondanks extra taallessen?",
        refined: "Waarom besteden vakdocenten weinig aandacht aan vaktaal?",
        product: "Woordenlijsten en taalsteun per vak",
    },
];

/// The theme of the cross-school PLG (a Flemish VLG).
pub(crate) const VLG_THEME: Theme = Theme {
    name: "VLG wiskunde eerste graad",
    need: "Het nieuwe leerplan wiskunde vraagt een andere didactiek en elke school zoekt apart.",
    question: "Waarom slagen leerlingen er niet in wiskundige begrippen toe te passen in contexten?",
    refined: "Waarom bieden onze lessen te weinig betekenisvolle contexten?",
    product: "Gedeelde lessenreeks contextrijk wiskundeonderwijs",
};

/// Goals of a PLG session.
pub(crate) const GOALS: [&str; 10] = [
    "De praktijknood scherp krijgen",
    "De leervraag formuleren",
    "Inventariseren wat we al weten",
    "Relevante literatuur selecteren",
    "Feedback van een expert verwerken",
    "Een eerste versie van het product maken",
    "Het product presenteren aan de sectie",
    "Lesbezoeken bij elkaar plannen",
    "Ervaringen uit de klas bespreken",
    "Afspreken wat we voor de volgende keer doen",
];

/// Working methods of a PLG session.
pub(crate) const METHODS: [&str; 6] = [
    "OASE intervision",
    "KanDoe",
    "SWOT",
    "keep/throw/make",
    "Leadership-for-Learning self-scan",
    "BSA",
];

/// Agreements made in a PLG session or a reflection conversation.
pub(crate) const AGREEMENTS: [&str; 5] = [
    "Iedereen probeert de aanpak twee keer uit in de klas",
    "Eén lid bereidt de volgende bijeenkomst voor",
    "Een lesbezoek bij een collega plannen",
    "Ervaringen noteren in het gedeelde logboek",
    "Leerlingwerk meenemen naar de volgende bijeenkomst",
];

/// The choices of a school's development plan.
pub(crate) const PLAN_CHOICES: [&str; 6] = [
    "Leerteams in elke sectie",
    "Vaste tijd voor collegiale lesbezoeken",
    "Scholing in onderzoekend werken",
    "Een gedeelde visie op goed onderwijs",
    "Startende leraren krijgen een maatje",
    "De schoolleiding faciliteert en volgt de leerteams",
];
